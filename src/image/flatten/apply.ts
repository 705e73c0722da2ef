// Applying tar entries of OCI layers, in order, to the in-memory tree (src/image/tree.ts): later
// layers win, `.wh.NAME` deletes, `.wh..wh..opq` hides a directory's lower children, hardlinks
// share one Node, and no whiteout marker reaches the tree. Paths are resolved lexically on the
// tree alone: a symlink is never followed, and a path through one is refused. File contents go
// straight into the DataSink; nothing here touches the host filesystem.
//
// Whiteouts apply to lower layers only, whatever their position in the layer. So the layer's own
// entries are tracked ("touched"): a whiteout or an opaque marker removes only what no entry of
// the current layer created or passed through.
import { WalkError } from "../../lib/errors.js";
import type { Logger } from "../../lib/log.js";
import { newDir, type DataSink, type Node, type NodeKind } from "../tree.js";
import type { FlattenLimits } from "./limits.js";
import { normalizePath, showPath } from "./paths.js";
import type { TarHeader } from "./tar.js";

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";
/** aufs bookkeeping entries (`.wh..wh.plnk`, `.wh..wh.aufs`): not content, skipped like docker does. */
const WHITEOUT_META = ".wh..wh.";

/** xattr namespaces an ext4 disk stores as they come; others (system.*, OS-specific) are dropped. */
const XATTR_NAMESPACES = ["user.", "trusted.", "security."];

const KINDS: Record<Exclude<TarHeader["type"], "hardlink">, NodeKind> = {
  file: "file",
  dir: "dir",
  symlink: "symlink",
  char: "char",
  block: "block",
  fifo: "fifo",
};

function invalid(message: string): WalkError {
  return new WalkError("invalid_argument", message);
}

export class Flattener {
  readonly root: Node = newDir();
  private entries = 0;
  /** References to hardlinked nodes; a node not listed has exactly one. */
  private readonly links = new Map<Node, number>();
  /** Current layer: per directory, the child names its entries created or passed through (true = an explicit entry). */
  private touched = new Map<Node, Map<string, boolean>>();
  /** Current layer: directories holding nothing from lower layers. */
  private fresh = new Set<Node>();

  constructor(
    private readonly sink: DataSink,
    private readonly limits: FlattenLimits,
    private readonly logger?: Logger,
  ) {}

  /** Starts a new layer: whiteouts from here on apply to everything applied so far. */
  beginLayer(): void {
    this.touched = new Map();
    this.fresh = new Set();
  }

  /** Applies one entry; a file's `body` is streamed into the sink. */
  async apply(h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    this.count(h.path);
    const comps = normalizePath(h.path, this.limits, "entry");
    const name = comps[comps.length - 1];
    if (name === undefined) return this.applyRoot(h);
    const parentComps = comps.slice(0, -1);
    for (const c of parentComps) {
      if (c.startsWith(WHITEOUT)) throw invalid(`entry ${showPath(h.path)} lies inside a whiteout name (${showPath(c)})`);
    }
    if (name === OPAQUE) return this.hideLower(this.parentDir(parentComps, true, h.path));
    if (name.startsWith(WHITEOUT_META)) {
      this.logger?.debug({ path: showPath(h.path) }, "skipping aufs whiteout metadata entry");
      return;
    }
    if (name.startsWith(WHITEOUT)) return this.whiteout(parentComps, name.slice(WHITEOUT.length), h.path);

    const parent = this.parentDir(parentComps, true, h.path);
    const existing = parent.children.get(name);
    const mine = this.touched.get(parent) ?? new Map<string, boolean>();
    if (mine.get(name) === true && !(h.type === "dir" && existing?.kind === "dir")) {
      throw invalid(`entry ${showPath(comps)} appears twice in the layer (only directories may repeat)`);
    }
    this.touched.set(parent, mine.set(name, true));

    if (h.type === "hardlink") return this.hardlink(parent.children, name, existing, h);
    if (h.type === "dir" && existing?.kind === "dir") {
      this.setMetadata(existing, h, comps);
      return;
    }
    const node = this.newNode(h, comps);
    if (node.kind === "file") node.data = await this.sink.writeData(body, h.size);
    if (existing) this.unref(existing);
    parent.children.set(name, node);
    if (node.kind === "dir") this.fresh.add(node);
  }

  private count(path: string): void {
    if (++this.entries > this.limits.maxEntries) {
      throw new WalkError("size_exceeded", `entry ${showPath(path)} is one more than the limit of ${this.limits.maxEntries} entries`);
    }
  }

  private applyRoot(h: TarHeader): void {
    if (h.type !== "dir") throw invalid(`entry ${showPath(h.path)} names the root but is not a directory`);
    this.setMetadata(this.root, h, []);
  }

  /**
   * The directory holding `comps`' last component, walking the tree without following anything.
   * With `create`, missing directories are made (0755, root) and every step is recorded as touched
   * by this layer; without it, a missing step gives undefined.
   */
  private parentDir(comps: readonly string[], create: true, path: string): Node & { children: Map<string, Node> };
  private parentDir(comps: readonly string[], create: false, path: string): (Node & { children: Map<string, Node> }) | undefined;
  private parentDir(comps: readonly string[], create: boolean, path: string): (Node & { children: Map<string, Node> }) | undefined {
    let dir = this.root as Node & { children: Map<string, Node> };
    for (let i = 0; i < comps.length; i++) {
      const c = comps[i] as string;
      let child = dir.children.get(c);
      if (child?.kind === "symlink") {
        throw invalid(`entry ${showPath(path)} would be written through the symlink ${showPath(comps.slice(0, i + 1))}: walk never follows symlinks in an image`);
      }
      if (child !== undefined && child.kind !== "dir") {
        if (!create) return undefined;
        throw invalid(`entry ${showPath(path)} needs ${showPath(comps.slice(0, i + 1))} to be a directory, but it is a ${child.kind}`);
      }
      if (create) {
        const mine = this.touched.get(dir) ?? new Map<string, boolean>();
        if (!mine.has(c)) this.touched.set(dir, mine.set(c, false));
        if (child === undefined) {
          this.count(`/${comps.slice(0, i + 1).join("/")}/`);
          child = newDir();
          dir.children.set(c, child);
          this.fresh.add(child);
        }
      }
      if (child === undefined) return undefined;
      dir = child as Node & { children: Map<string, Node> };
    }
    return dir;
  }

  private whiteout(parentComps: readonly string[], target: string, path: string): void {
    if (target === "") throw invalid(`whiteout ${showPath(path)} has no name after ".wh."`);
    if (target === "." || target === "..") {
      throw invalid(parentComps.length === 0 && target === "." ? `whiteout ${showPath(path)} would delete /` : `whiteout ${showPath(path)} names "${target}"`);
    }
    const parent = this.parentDir(parentComps, false, path);
    const node = parent?.children.get(target);
    if (parent === undefined || node === undefined) return;
    const mine = this.touched.get(parent)?.get(target);
    if (mine === undefined) {
      parent.children.delete(target);
      this.unref(node);
      return;
    }
    // This layer created or passed through it: only what lower layers put inside goes.
    if (node.kind !== "dir") return;
    this.hideLower(node);
    if (!mine) Object.assign(node, { mode: 0o755, uid: 0, gid: 0, mtime: { sec: 0, nsec: 0 }, xattrs: new Map() });
  }

  /** Removes from `dir`'s subtree everything the current layer did not create or pass through. */
  private hideLower(dir: Node): void {
    const stack = [dir];
    for (let d = stack.pop(); d !== undefined; d = stack.pop()) {
      if (this.fresh.has(d)) continue;
      const mine = this.touched.get(d);
      for (const [name, child] of d.children ?? []) {
        if (mine?.has(name) !== true) {
          d.children?.delete(name);
          this.unref(child);
        } else if (child.kind === "dir") stack.push(child);
      }
      this.fresh.add(d);
    }
  }

  private hardlink(children: Map<string, Node>, name: string, existing: Node | undefined, h: TarHeader): void {
    const comps = normalizePath(h.linkname, this.limits, `hardlink target of ${showPath(h.path)}`);
    if (comps.length === 0) throw invalid(`hardlink ${showPath(h.path)} points at the directory /`);
    const where = this.parentDir(comps.slice(0, -1), false, h.path);
    const target = where?.children.get(comps[comps.length - 1] ?? "");
    if (target === undefined) throw invalid(`hardlink ${showPath(h.path)} points at ${showPath(h.linkname)}, which does not exist`);
    if (target.kind === "dir") throw invalid(`hardlink ${showPath(h.path)} points at the directory ${showPath(h.linkname)}`);
    if (target === existing) return;
    this.links.set(target, (this.links.get(target) ?? 1) + 1);
    if (existing) this.unref(existing);
    children.set(name, target);
  }

  /** The node for an entry, without a file's data: the caller streams that in (the one await per entry). */
  private newNode(h: TarHeader, comps: readonly string[]): Node {
    const kind = KINDS[h.type as keyof typeof KINDS];
    const node: Node = { kind, mode: h.mode & 0o7777, uid: h.uid, gid: h.gid, mtime: h.mtime, xattrs: this.xattrsOf(h, comps) };
    if (kind === "dir") node.children = new Map();
    else if (kind === "symlink") {
      const target = h.linkname;
      if (target === "") throw invalid(`symlink ${showPath(comps)} has an empty target`);
      if (target.includes("\0")) throw invalid(`symlink ${showPath(comps)} has a target containing a NUL byte`);
      if (target.length > this.limits.maxSymlinkBytes) {
        throw new WalkError("size_exceeded", `symlink ${showPath(comps)} has a target of ${target.length} bytes, more than the limit of ${this.limits.maxSymlinkBytes}`);
      }
      node.target = Buffer.from(target, "latin1");
    } else if (kind === "char" || kind === "block") node.rdev = { major: h.devmajor, minor: h.devminor };
    return node;
  }

  private setMetadata(node: Node, h: TarHeader, comps: readonly string[]): void {
    node.mode = h.mode & 0o7777;
    node.uid = h.uid;
    node.gid = h.gid;
    node.mtime = h.mtime;
    node.xattrs = this.xattrsOf(h, comps);
  }

  private xattrsOf(h: TarHeader, comps: readonly string[]): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    let bytes = 0;
    for (const [name, value] of h.xattrs) {
      if (!XATTR_NAMESPACES.some((ns) => name.startsWith(ns) && name.length > ns.length) || name.includes("\0") || name.length > 255) {
        this.logger?.warn({ entry: showPath(comps), xattr: showPath(name) }, "dropping an extended attribute ext4 cannot store as it is");
        continue;
      }
      out.set(name, value);
      bytes += name.length + value.length;
      if (out.size > this.limits.maxXattrsPerEntry || bytes > this.limits.maxXattrBytesPerEntry) {
        throw new WalkError(
          "size_exceeded",
          `entry ${showPath(comps)} has more extended attributes than the limit of ${this.limits.maxXattrsPerEntry} attributes and ${this.limits.maxXattrBytesPerEntry} bytes`,
        );
      }
    }
    return out;
  }

  /** Drops one reference to `node`'s subtree, giving file blocks back once nothing refers to them. */
  private unref(node: Node): void {
    const stack = [node];
    for (let n = stack.pop(); n !== undefined; n = stack.pop()) {
      if (n.kind === "dir") {
        for (const child of n.children?.values() ?? []) stack.push(child);
        continue;
      }
      const refs = this.links.get(n);
      if (refs !== undefined && refs > 1) {
        if (refs === 2) this.links.delete(n);
        else this.links.set(n, refs - 1);
        continue;
      }
      if (n.data) this.sink.release(n.data);
    }
  }
}
