// Geometry: how many groups and inodes per group a disk needs, and where the bitmaps and inode
// tables go. Everything the builder writes at finish lives in one region after the data area
// (flex_bg allows bitmaps and inode tables anywhere), so the data area can be streamed first.
import { WalkError } from "../../lib/errors.js";
import { BLOCK_SIZE, BLOCKS_PER_GROUP, GROUP_DESC_SIZE, INODES_PER_BLOCK, MAX_BLOCKS, MAX_INODES_PER_GROUP } from "./format.js";

/** Blocks of group descriptors a disk of `maxBlocks` blocks can need (reserved after the superblock). */
export function gdtBlocksFor(maxBlocks: number): number {
  return Math.ceil((Math.ceil(maxBlocks / BLOCKS_PER_GROUP) * GROUP_DESC_SIZE) / BLOCK_SIZE);
}

export interface Geometry {
  groups: number;
  inodesPerGroup: number;
  inodeTableBlocksPerGroup: number;
  blockBitmapStart: number;
  inodeBitmapStart: number;
  inodeTableStart: number;
  /** First block for directories, tree, xattr, symlink and reserved-file blocks. */
  otherMetaStart: number;
  totalBlocks: number;
}

export interface GeometryInput {
  /** First block after the data area. */
  metaStart: number;
  /** Highest inode number in use (reserved inodes 1..10 included). */
  usedInodes: number;
  spareInodes: number;
  /** Blocks for directories, trees, xattrs, symlinks and reserved files. */
  otherMetaBlocks: number;
  spareBlocks: (usedBlocks: number) => number;
  maxBlocks: number;
}

function inodesPerGroupFor(inodes: number, groups: number): number {
  const perGroup = Math.ceil(inodes / groups);
  // Inode tables fill whole blocks, and inode bitmaps whole bytes (16 is a multiple of 8).
  return Math.max(INODES_PER_BLOCK, Math.ceil(perGroup / INODES_PER_BLOCK) * INODES_PER_BLOCK);
}

/** Finds the smallest consistent geometry: groups depend on blocks, which depend on groups. */
export function computeGeometry(g: GeometryInput): Geometry {
  const inodes = g.usedInodes + g.spareInodes;
  let groups = Math.max(1, Math.ceil(inodes / MAX_INODES_PER_GROUP));
  for (;;) {
    const ipg = inodesPerGroupFor(inodes, groups);
    const itb = ipg / INODES_PER_BLOCK;
    const used = g.metaStart + groups * (2 + itb) + g.otherMetaBlocks;
    // Every group but the last is full; inode-heavy disks may need more groups than blocks do.
    const total = Math.max(used + g.spareBlocks(used), (groups - 1) * BLOCKS_PER_GROUP + 1);
    const needed = Math.max(Math.ceil(total / BLOCKS_PER_GROUP), Math.ceil(inodes / MAX_INODES_PER_GROUP));
    if (needed > groups) {
      groups = needed;
      continue;
    }
    if (total > g.maxBlocks || total > MAX_BLOCKS) {
      throw new WalkError("size_exceeded", `the disk needs ${total * BLOCK_SIZE} bytes, more than the limit of ${Math.min(g.maxBlocks, MAX_BLOCKS) * BLOCK_SIZE}`);
    }
    const blockBitmapStart = g.metaStart;
    const inodeBitmapStart = blockBitmapStart + groups;
    const inodeTableStart = inodeBitmapStart + groups;
    return {
      groups,
      inodesPerGroup: ipg,
      inodeTableBlocksPerGroup: itb,
      blockBitmapStart,
      inodeBitmapStart,
      inodeTableStart,
      otherMetaStart: inodeTableStart + groups * itb,
      totalBlocks: total,
    };
  }
}
