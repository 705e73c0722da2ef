// Encodes extent trees: depth 0 in i_block for at most 4 extents, otherwise leaf blocks of 340
// extents under as many index levels as needed, with the root in i_block. Each tree block ends
// in its metadata_csum checksum. Pure functions; the caller decides where the tree blocks go.
import { crc32c } from "./crc32c.js";
import { BLOCK_SIZE, MAX_INIT_EXTENT_LEN } from "./format.js";

export interface ExtentEntry {
  logical: number;
  physical: number;
  length: number;
  /** Allocated but reads as zeros (ext4 "unwritten"): used for reserved capacity past EOF. */
  unwritten?: boolean;
}

const EXTENT_MAGIC = 0xf30a;
const HEADER_SIZE = 12;
const ENTRY_SIZE = 12;
const ROOT_MAX = 4;
const TAIL_SIZE = 4; // the checksum after the last possible entry
const NODE_MAX = Math.floor((BLOCK_SIZE - HEADER_SIZE - TAIL_SIZE) / ENTRY_SIZE); // 340
const TAIL_OFFSET = HEADER_SIZE + NODE_MAX * ENTRY_SIZE;
export const I_BLOCK_SIZE = 60;

/** Splits runs into pieces one extent can hold (32768 blocks, 32767 if unwritten). */
export function splitRuns(runs: readonly ExtentEntry[]): ExtentEntry[] {
  const out: ExtentEntry[] = [];
  for (const r of runs) {
    const max = r.unwritten === true ? MAX_INIT_EXTENT_LEN - 1 : MAX_INIT_EXTENT_LEN;
    for (let done = 0; done < r.length; done += max) {
      const length = Math.min(max, r.length - done);
      out.push({ logical: r.logical + done, physical: r.physical + done, length, ...(r.unwritten === true ? { unwritten: true } : {}) });
    }
  }
  return out;
}

/** Blocks the tree for `count` extents needs outside the inode. */
export function treeBlockCount(count: number): number {
  let total = 0;
  let nodes = count;
  while (nodes > ROOT_MAX) {
    nodes = Math.ceil(nodes / NODE_MAX);
    total += nodes;
  }
  return total;
}

interface ChildRef {
  logical: number;
  block: number;
}

function writeHeader(buf: Buffer, off: number, entries: number, max: number, depth: number): void {
  buf.writeUInt16LE(EXTENT_MAGIC, off);
  buf.writeUInt16LE(entries, off + 2);
  buf.writeUInt16LE(max, off + 4);
  buf.writeUInt16LE(depth, off + 6);
  buf.writeUInt32LE(0, off + 8);
}

function writeLeafEntry(buf: Buffer, off: number, e: ExtentEntry): void {
  buf.writeUInt32LE(e.logical, off);
  buf.writeUInt16LE(e.unwritten === true ? e.length + MAX_INIT_EXTENT_LEN : e.length, off + 4);
  buf.writeUInt16LE(Math.floor(e.physical / 2 ** 32), off + 6);
  buf.writeUInt32LE(e.physical % 2 ** 32, off + 8);
}

function writeIndexEntry(buf: Buffer, off: number, c: ChildRef): void {
  buf.writeUInt32LE(c.logical, off);
  buf.writeUInt32LE(c.block % 2 ** 32, off + 4);
  buf.writeUInt16LE(Math.floor(c.block / 2 ** 32), off + 8);
  buf.writeUInt16LE(0, off + 10);
}

/**
 * Encodes sorted, already split extents: the root into the 60 zero bytes at `root[rootOff]`
 * (i_block), and returns the tree blocks, numbered from `firstBlock` on, as many as
 * treeBlockCount(entries.length), each BLOCK_SIZE bytes and checksummed from the inode's seed.
 */
export function encodeExtentTree(entries: readonly ExtentEntry[], firstBlock: number, root: Buffer, rootOff: number, inodeSeed: number): Buffer[] {
  const blocks: Buffer[] = [];
  if (entries.length <= ROOT_MAX) {
    writeHeader(root, rootOff, entries.length, ROOT_MAX, 0);
    entries.forEach((e, i) => writeLeafEntry(root, rootOff + HEADER_SIZE + i * ENTRY_SIZE, e));
    return blocks;
  }
  let children: ChildRef[] = [];
  for (let i = 0; i < entries.length; i += NODE_MAX) {
    const chunk = entries.slice(i, i + NODE_MAX);
    const buf = Buffer.alloc(BLOCK_SIZE);
    writeHeader(buf, 0, chunk.length, NODE_MAX, 0);
    chunk.forEach((e, j) => writeLeafEntry(buf, HEADER_SIZE + j * ENTRY_SIZE, e));
    buf.writeUInt32LE(crc32c(inodeSeed, buf, 0, TAIL_OFFSET), TAIL_OFFSET);
    children.push({ logical: chunk[0]!.logical, block: firstBlock + blocks.length });
    blocks.push(buf);
  }
  let depth = 1;
  while (children.length > ROOT_MAX) {
    const next: ChildRef[] = [];
    for (let i = 0; i < children.length; i += NODE_MAX) {
      const chunk = children.slice(i, i + NODE_MAX);
      const buf = Buffer.alloc(BLOCK_SIZE);
      writeHeader(buf, 0, chunk.length, NODE_MAX, depth);
      chunk.forEach((c, j) => writeIndexEntry(buf, HEADER_SIZE + j * ENTRY_SIZE, c));
      buf.writeUInt32LE(crc32c(inodeSeed, buf, 0, TAIL_OFFSET), TAIL_OFFSET);
      next.push({ logical: chunk[0]!.logical, block: firstBlock + blocks.length });
      blocks.push(buf);
    }
    children = next;
    depth++;
  }
  writeHeader(root, rootOff, children.length, ROOT_MAX, depth);
  children.forEach((c, i) => writeIndexEntry(root, rootOff + HEADER_SIZE + i * ENTRY_SIZE, c));
  return blocks;
}
