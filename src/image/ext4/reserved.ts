// Reserved files (/walk/argv, /walk/env): regular files that own a fixed run of contiguous
// blocks. The content's blocks are an initialized extent and the rest of the capacity an unwritten
// extent, so the file's size can change later without touching bitmaps or free counts
// (patch.ts), and e2fsck accepts blocks past EOF because they are unwritten.
import { WalkError } from "../../lib/errors.js";
import type { Node, Timestamp } from "../tree.js";
import { newDir } from "../tree.js";
import type { ExtentEntry } from "./extents.js";
import { BLOCK_SIZE, MAX_UNWRITTEN_EXTENT_LEN } from "./format.js";
import type { ReservedCapacity } from "./plan.js";

export interface ReservedFileSpec {
  /** Path components from the root, binary strings like Node names: ["walk", "argv"]. */
  path: string[];
  /** Bytes the file can ever hold, 1 byte to 127 MiB; its blocks stay allocated to it. */
  capacity: number;
  /** The content written now; patchReservedFile can replace it later. */
  content: Uint8Array;
  /** Permission bits, default 0o400: only the guest init (root) reads these files. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Default: the builder's timestamp. */
  mtime?: Timestamp;
}

/** The most blocks a reserved file may own: two extents in the inode always suffice. */
export const MAX_RESERVED_BLOCKS = MAX_UNWRITTEN_EXTENT_LEN;

/** Extents of a reserved file with `size` bytes of content in `capacityBlocks` blocks at `start`. */
export function reservedExtents(start: number, capacityBlocks: number, size: number): ExtentEntry[] {
  const used = Math.ceil(size / BLOCK_SIZE);
  const out: ExtentEntry[] = [];
  if (used > 0) out.push({ logical: 0, physical: start, length: used });
  if (capacityBlocks > used) out.push({ logical: used, physical: start + used, length: capacityBlocks - used, unwritten: true });
  return out;
}

export function reservedName(path: readonly string[]): string {
  return path.join("/");
}

function copyDir(n: Node): Node {
  return { ...n, children: new Map(n.children) };
}

/**
 * A copy of the tree's spine with the reserved files (and lost+found) in place: directories on a
 * reserved path are copied, never changed, and a non-directory in the way is replaced by a
 * directory. The caller's tree is left as it was.
 */
export function withReservedFiles(
  root: Node,
  specs: readonly ReservedFileSpec[],
  timestamp: Timestamp,
): { root: Node; reserved: Map<Node, ReservedCapacity> } {
  const reserved = new Map<Node, ReservedCapacity>();
  if (root.kind !== "dir" || root.children === undefined) throw new WalkError("invalid_argument", "the root of the tree must be a directory");
  const top = copyDir(root);
  const seen = new Set<string>();
  for (const spec of specs) {
    const name = reservedName(spec.path);
    if (spec.path.length === 0 || seen.has(name)) throw new WalkError("invalid_argument", `reserved file ${JSON.stringify(name)} is empty or given twice`);
    seen.add(name);
    if (!Number.isSafeInteger(spec.capacity) || spec.capacity <= 0 || spec.capacity > MAX_RESERVED_BLOCKS * BLOCK_SIZE) {
      throw new WalkError("invalid_argument", `reserved file ${JSON.stringify(name)}: capacity must be 1 to ${MAX_RESERVED_BLOCKS * BLOCK_SIZE} bytes`);
    }
    if (spec.content.length > spec.capacity) {
      throw new WalkError("size_exceeded", `reserved file ${JSON.stringify(name)}: content of ${spec.content.length} bytes exceeds its capacity of ${spec.capacity}`);
    }
    let dir = top;
    for (const comp of spec.path.slice(0, -1)) {
      const cur = dir.children!.get(comp);
      const next = cur !== undefined && cur.kind === "dir" ? copyDir(cur) : newDir(0o755, 0, 0, timestamp);
      dir.children!.set(comp, next);
      dir = next;
    }
    const file: Node = {
      kind: "file",
      mode: spec.mode ?? 0o400,
      uid: spec.uid ?? 0,
      gid: spec.gid ?? 0,
      mtime: spec.mtime ?? timestamp,
      xattrs: new Map(),
    };
    dir.children!.set(spec.path[spec.path.length - 1]!, file);
    reserved.set(file, { name, capacity: spec.capacity, capacityBlocks: Math.ceil(spec.capacity / BLOCK_SIZE), content: spec.content });
  }
  const lpf = top.children!.get("lost+found");
  if (lpf === undefined) top.children!.set("lost+found", newDir(0o700, 0, 0, timestamp));
  else if (lpf.kind !== "dir") {
    throw new WalkError("unsupported", `the image has a ${lpf.kind} at /lost+found, where ext4 keeps its lost+found directory`);
  }
  return { root: top, reserved };
}
