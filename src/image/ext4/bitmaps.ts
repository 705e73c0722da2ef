// The allocation bitmaps and group descriptors of a finished layout. The block bitmap is derived
// from what the final tree references (not from the allocator), so blocks nobody uses end up
// free and blocks claimed twice are caught.
import { WalkError } from "../../lib/errors.js";
import { crc32c } from "./crc32c.js";
import { BLOCK_SIZE, BLOCKS_PER_GROUP, GROUP_DESC_SIZE } from "./format.js";
import type { Geometry } from "./layout.js";
import { displayPath, type PlannedInode } from "./plan.js";
import type { GroupDesc } from "./superblock.js";

const POPCOUNT = Uint8Array.from({ length: 256 }, (_, n) => {
  let c = 0;
  for (let v = n; v > 0; v >>= 1) c += v & 1;
  return c;
});

/** The block bitmaps of all groups: superblock, descriptors, data extents and metadata; rejects blocks claimed twice. */
export function blockBitmap(geo: Geometry, inodes: readonly PlannedInode[], dataEnd: number, metaEnd: number): Buffer {
  const bitmap = Buffer.alloc(geo.groups * BLOCK_SIZE);
  const setRange = (start: number, length: number, owner?: PlannedInode): void => {
    for (let b = start; b < start + length; b++) {
      const mask = 1 << (b & 7);
      if ((bitmap[b >>> 3]! & mask) !== 0) {
        throw new WalkError("internal", `block ${b} of ${owner === undefined ? "the metadata" : `entry ${displayPath(owner)}`} belongs to another file too`);
      }
      bitmap[b >>> 3]! |= mask;
    }
  };
  setRange(0, 1 + Math.ceil((geo.groups * GROUP_DESC_SIZE) / BLOCK_SIZE));
  for (const p of inodes) for (const e of p.extents ?? []) setRange(e.physical, e.length, p);
  setRange(dataEnd, metaEnd - dataEnd);
  // Bits past the last block are padding and must be set.
  for (let b = geo.totalBlocks; b < geo.groups * BLOCKS_PER_GROUP; b++) bitmap[b >>> 3]! |= 1 << (b & 7);
  return bitmap;
}

export function inodeBitmaps(geo: Geometry, maxIno: number): Buffer {
  const buf = Buffer.alloc(geo.groups * BLOCK_SIZE);
  for (let g = 0; g < geo.groups; g++) {
    const base = g * BLOCK_SIZE * 8;
    const used = Math.max(0, Math.min(geo.inodesPerGroup, maxIno - g * geo.inodesPerGroup));
    for (let i = 0; i < used; i++) buf[(base + i) >>> 3]! |= 1 << (i & 7);
    for (let i = geo.inodesPerGroup; i < BLOCK_SIZE * 8; i++) buf[(base + i) >>> 3]! |= 1 << (i & 7);
  }
  return buf;
}

export function groupDescs(geo: Geometry, inodes: readonly PlannedInode[], bitmap: Buffer, inodeBitmap: Buffer, maxIno: number, fsSeed: number): { descs: GroupDesc[]; freeBlocks: number; freeInodes: number } {
  const dirs = new Array<number>(geo.groups).fill(0);
  for (const p of inodes) if (p.node.kind === "dir") dirs[Math.floor((p.ino - 1) / geo.inodesPerGroup)]!++;
  const descs: GroupDesc[] = [];
  let freeBlocks = 0;
  let freeInodes = 0;
  for (let g = 0; g < geo.groups; g++) {
    let used = 0;
    for (let i = g * BLOCK_SIZE; i < (g + 1) * BLOCK_SIZE; i++) used += POPCOUNT[bitmap[i]!]!;
    const free = BLOCKS_PER_GROUP - used;
    const freeIn = geo.inodesPerGroup - Math.max(0, Math.min(geo.inodesPerGroup, maxIno - g * geo.inodesPerGroup));
    freeBlocks += free;
    freeInodes += freeIn;
    descs.push({
      blockBitmap: geo.blockBitmapStart + g,
      inodeBitmap: geo.inodeBitmapStart + g,
      inodeTable: geo.inodeTableStart + g * geo.inodeTableBlocksPerGroup,
      freeBlocks: free,
      freeInodes: freeIn,
      usedDirs: dirs[g]!,
      blockBitmapCsum: crc32c(fsSeed, bitmap, g * BLOCK_SIZE, (g + 1) * BLOCK_SIZE),
      inodeBitmapCsum: crc32c(fsSeed, inodeBitmap, g * BLOCK_SIZE, g * BLOCK_SIZE + geo.inodesPerGroup / 8),
    });
  }
  return { descs, freeBlocks, freeInodes };
}
