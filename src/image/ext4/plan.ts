// Turns the flattened tree into a numbered list of inodes: validates every node, assigns inode
// numbers (root 2, the rest from 11 in directory order), counts links, encodes directories and
// lays out xattrs. Everything here is independent of where blocks end up on the disk.
import { WalkError } from "../../lib/errors.js";
import type { DataExtent, Node } from "../tree.js";
import { inodeChecksumSeed } from "./crc32c.js";
import { encodeDirectory, type DirEntry } from "./directory.js";
import {
  BLOCK_SIZE,
  FIRST_INO,
  FT_BLK,
  FT_CHR,
  FT_DIR,
  FT_FIFO,
  FT_LNK,
  FT_REG,
  FT_SOCK,
  LINK_MAX,
  ROOT_INO,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFREG,
  S_IFSOCK,
} from "./format.js";
import { layoutXattrs, type XattrLayout } from "./xattr.js";

const NO_XATTRS: XattrLayout = { inline: null, block: null };
import { MAX_FILE_SIZE } from "./data-area.js";

export interface ReservedCapacity {
  /** Key in the patch map: the path components joined by "/". */
  name: string;
  /** The most bytes the file may hold, as asked for; its blocks are that rounded up. */
  capacity: number;
  capacityBlocks: number;
  content: Uint8Array;
}

export interface PlannedInode {
  ino: number;
  node: Node;
  /** Where the inode was first found, for messages (see pathOf): its directory and name. */
  parent: PlannedInode | undefined;
  name: string;
  links: number;
  typeBits: number;
  /** Encoded directory blocks (kind "dir"). */
  dirBlocks?: Buffer;
  /** The directory is an htree. */
  dirIndexed?: boolean;
  /** Data extents already in the data area (kind "file"). */
  extents?: readonly DataExtent[];
  reserved?: ReservedCapacity;
  xattrs: XattrLayout;
}

const TYPES: Record<Node["kind"], [number, number]> = {
  file: [S_IFREG, FT_REG],
  dir: [S_IFDIR, FT_DIR],
  symlink: [S_IFLNK, FT_LNK],
  char: [S_IFCHR, FT_CHR],
  block: [S_IFBLK, FT_BLK],
  fifo: [S_IFIFO, FT_FIFO],
  socket: [S_IFSOCK, FT_SOCK],
};

/** A place in the tree: built into a path string only when a message needs it. */
interface Location {
  parent: PlannedInode | undefined;
  name: string;
}

/** The path of a location for messages, quoted, its bytes read as UTF-8 where they are. */
export function displayPath(loc: Location): string {
  const parts: string[] = [];
  for (let q: Location | undefined = loc; q?.parent !== undefined; q = q.parent) parts.push(q.name);
  const path = parts.length === 0 ? "/" : parts.reverse().map((n) => `/${n}`).join("");
  return JSON.stringify(Buffer.from(path, "latin1").toString("utf8"));
}

function bad(loc: Location, what: string): WalkError {
  return new WalkError("invalid_argument", `entry ${displayPath(loc)}: ${what}`);
}

function checkName(name: string, dir: Location): void {
  if (name.length === 0 || name.length > 255 || name === "." || name === ".." || /[/\0]|[^\0-\xff]/.test(name)) {
    throw bad(dir, `has a child with an invalid name ${JSON.stringify(name)} (1 to 255 bytes, no "/" or NUL, not "." or "..")`);
  }
}

function isUint32(n: unknown): boolean {
  return Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) < 2 ** 32;
}

function checkNode(n: Node, path: Location, dataStart: number, dataEnd: number, reserved: boolean): void {
  if (!(n.kind in TYPES)) throw bad(path, `unknown kind ${String(n.kind)}`);
  if (!isUint32(n.uid) || !isUint32(n.gid)) throw bad(path, `uid ${n.uid} or gid ${n.gid} is not a 32-bit id`);
  if (!Number.isSafeInteger(n.mode) || n.mode < 0 || n.mode > 0o7777) throw bad(path, `mode ${n.mode} is not a permission mask`);
  if (!Number.isFinite(n.mtime.sec) || !Number.isFinite(n.mtime.nsec)) throw bad(path, "has an invalid mtime");
  switch (n.kind) {
    case "file": {
      if (reserved) break;
      const d = n.data;
      if (d === undefined) throw bad(path, "is a file without data");
      if (!Number.isSafeInteger(d.size) || d.size < 0 || d.size > MAX_FILE_SIZE) throw bad(path, `size ${d.size} is invalid`);
      const fileBlocks = Math.ceil(d.size / BLOCK_SIZE);
      let next = 0;
      for (const e of d.extents) {
        if (!Number.isSafeInteger(e.logical) || !Number.isSafeInteger(e.physical) || !Number.isSafeInteger(e.length) || e.length <= 0 || e.logical < next || e.logical + e.length > fileBlocks) {
          throw bad(path, "has extents that are unsorted, overlapping or past its size");
        }
        if (e.physical < dataStart || e.physical + e.length > dataEnd) throw bad(path, "has extents outside this disk's data area");
        next = e.logical + e.length;
      }
      break;
    }
    case "symlink": {
      const t = n.target;
      if (t === undefined || t.length === 0 || t.length >= BLOCK_SIZE || t.includes(0)) throw bad(path, `symlink target must be 1 to ${BLOCK_SIZE - 1} bytes, none of them NUL`);
      break;
    }
    case "char":
    case "block": {
      const r = n.rdev;
      if (r === undefined || !Number.isSafeInteger(r.major) || !Number.isSafeInteger(r.minor) || r.major < 0 || r.major > 0xfff || r.minor < 0 || r.minor > 0xfffff) {
        throw bad(path, "device numbers must be major 0..4095 and minor 0..1048575");
      }
      break;
    }
    case "dir":
      if (n.children === undefined) throw bad(path, "is a directory without children");
      break;
    default:
      break;
  }
}

export interface PlanInput {
  root: Node;
  dataStart: number;
  dataEnd: number;
  reserved: ReadonlyMap<Node, ReservedCapacity>;
  hashSeed: readonly number[];
  /** metadata_csum seed of the filesystem. */
  fsSeed: number;
}

/** Inodes in inode-number order: root (2) first, then 11, 12, ... */
export function planInodes(input: PlanInput): PlannedInode[] {
  const { root } = input;
  if (root.kind !== "dir") throw bad({ parent: undefined, name: "" }, "the root must be a directory");
  const planned = new Map<Node, PlannedInode>();
  const order: PlannedInode[] = [];
  let nextIno = FIRST_INO;

  const add = (node: Node, ino: number, loc: Location): PlannedInode => {
    checkNode(node, loc, input.dataStart, input.dataEnd, input.reserved.has(node));
    const xattrs = node.xattrs.size === 0 ? NO_XATTRS : layoutXattrs(node.xattrs, `entry ${displayPath(loc)}`);
    const p: PlannedInode = { ino, node, parent: loc.parent, name: loc.name, links: 0, typeBits: TYPES[node.kind][0], xattrs };
    const r = input.reserved.get(node);
    if (r !== undefined) p.reserved = r;
    else if (node.kind === "file") p.extents = node.data!.extents;
    planned.set(node, p);
    order.push(p);
    return p;
  };

  const rootPlan = add(root, ROOT_INO, { parent: undefined, name: "" });
  const stack: { plan: PlannedInode; parent: number }[] = [{ plan: rootPlan, parent: ROOT_INO }];
  while (stack.length > 0) {
    const { plan: dir, parent } = stack.pop()!;
    const names = [...dir.node.children!.keys()].sort();
    const entries: DirEntry[] = [];
    const subdirs: PlannedInode[] = [];
    for (const name of names) {
      checkName(name, dir);
      const child = dir.node.children!.get(name)!;
      let p = planned.get(child);
      if (p === undefined) p = add(child, nextIno++, { parent: dir, name });
      else if (child.kind === "dir") throw bad({ parent: dir, name }, "is a directory that appears twice in the tree");
      if (child.kind === "dir") subdirs.push(p);
      else if (++p.links > LINK_MAX) throw new WalkError("size_exceeded", `entry ${displayPath(p)} has more than ${LINK_MAX} hard links`);
      entries.push({ name, ino: p.ino, fileType: TYPES[child.kind][1] });
    }
    const encoded = encodeDirectory(dir.ino, parent, entries, input.hashSeed, inodeChecksumSeed(input.fsSeed, dir.ino));
    dir.dirBlocks = encoded.bytes;
    dir.dirIndexed = encoded.indexed;
    // "." and the parent's entry, plus each subdirectory's "..".
    dir.links = 2 + subdirs.length > LINK_MAX ? 1 : 2 + subdirs.length;
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push({ plan: subdirs[i]!, parent: dir.ino });
  }
  return order;
}
