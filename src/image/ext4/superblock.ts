// Encodes the superblock and the group descriptor table from a finished layout's numbers.
import { createHash } from "node:crypto";
import { crc32c, le32 } from "./crc32c.js";
import {
  BLOCKS_PER_GROUP,
  FEATURE_COMPAT,
  FEATURE_INCOMPAT,
  FEATURE_RO_COMPAT,
  FIRST_INO,
  GROUP_DESC_SIZE,
  INODE_SIZE,
  EXTRA_ISIZE,
  LOG_BLOCK_SIZE,
  LOG_GROUPS_PER_FLEX,
  SUPER_MAGIC,
} from "./format.js";

export interface SuperblockFields {
  inodesCount: number;
  blocksCount: number;
  freeBlocks: number;
  freeInodes: number;
  inodesPerGroup: number;
  timestamp: number;
  uuid: Buffer;
  label: Buffer;
}

const FLAGS_UNSIGNED_HASH = 0x0002;
const CHECKSUM_CRC32C = 1;
const HASH_HALF_MD4 = 1;

/** The htree hash seed (s_hash_seed): derived from the uuid, so builds are reproducible. */
export function hashSeed(uuid: Buffer): number[] {
  const h = createHash("sha256").update(uuid).update("walk.io hash seed").digest();
  return [0, 1, 2, 3].map((i) => h.readUInt32LE(i * 4));
}

/** The 1024-byte superblock that lives at byte 1024 of the disk. */
export function encodeSuperblock(f: SuperblockFields): Buffer {
  const b = Buffer.alloc(1024);
  const ts = f.timestamp >>> 0;
  b.writeUInt32LE(f.inodesCount, 0);
  b.writeUInt32LE(f.blocksCount, 4);
  b.writeUInt32LE(0, 8); // no blocks reserved for root: nothing ever writes to this disk
  b.writeUInt32LE(f.freeBlocks, 12);
  b.writeUInt32LE(f.freeInodes, 16);
  b.writeUInt32LE(0, 20); // s_first_data_block: 0 with blocks larger than 1 KiB
  b.writeUInt32LE(LOG_BLOCK_SIZE, 24);
  b.writeUInt32LE(LOG_BLOCK_SIZE, 28); // cluster size = block size
  b.writeUInt32LE(BLOCKS_PER_GROUP, 32);
  b.writeUInt32LE(BLOCKS_PER_GROUP, 36);
  b.writeUInt32LE(f.inodesPerGroup, 40);
  b.writeUInt32LE(0, 44); // s_mtime: never mounted
  b.writeUInt32LE(ts, 48); // s_wtime
  b.writeUInt16LE(0, 52);
  b.writeUInt16LE(0xffff, 54); // s_max_mnt_count -1: no forced checks
  b.writeUInt16LE(SUPER_MAGIC, 56);
  b.writeUInt16LE(1, 58); // EXT2_VALID_FS
  b.writeUInt16LE(1, 60); // errors=continue
  b.writeUInt32LE(ts, 64); // s_lastcheck
  b.writeUInt32LE(0, 72); // Linux
  b.writeUInt32LE(1, 76); // dynamic inode sizes
  b.writeUInt32LE(FIRST_INO, 84);
  b.writeUInt16LE(INODE_SIZE, 88);
  b.writeUInt32LE(FEATURE_COMPAT, 92);
  b.writeUInt32LE(FEATURE_INCOMPAT, 96);
  b.writeUInt32LE(FEATURE_RO_COMPAT, 100);
  f.uuid.copy(b, 104, 0, 16);
  f.label.copy(b, 120, 0, 16);
  hashSeed(f.uuid).forEach((w, i) => b.writeUInt32LE(w, 236 + i * 4));
  b.writeUInt8(HASH_HALF_MD4, 252);
  b.writeUInt32LE(ts, 264); // s_mkfs_time
  b.writeUInt16LE(EXTRA_ISIZE, 348);
  b.writeUInt16LE(EXTRA_ISIZE, 350);
  b.writeUInt32LE(FLAGS_UNSIGNED_HASH, 352);
  b.writeUInt8(LOG_GROUPS_PER_FLEX, 372);
  b.writeUInt8(CHECKSUM_CRC32C, 373);
  // s_backup_bgs (offset 588) stay 0,0: sparse_super2 with no backup superblocks.
  b.writeUInt32LE(crc32c(0xffffffff, b, 0, 1020), 1020); // s_checksum
  return b;
}

export interface GroupDesc {
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number;
  freeBlocks: number;
  freeInodes: number;
  usedDirs: number;
  /** crc32c of the group's bitmaps (the low 16 bits are stored with 32-byte descriptors). */
  blockBitmapCsum: number;
  inodeBitmapCsum: number;
}

/** The group descriptor table, padded to whole blocks, each descriptor checksummed. */
export function encodeGroupDescs(descs: readonly GroupDesc[], blockSize: number, fsSeed: number): Buffer {
  const b = Buffer.alloc(Math.ceil((descs.length * GROUP_DESC_SIZE) / blockSize) * blockSize);
  descs.forEach((d, i) => {
    const off = i * GROUP_DESC_SIZE;
    b.writeUInt32LE(d.blockBitmap, off);
    b.writeUInt32LE(d.inodeBitmap, off + 4);
    b.writeUInt32LE(d.inodeTable, off + 8);
    b.writeUInt16LE(d.freeBlocks, off + 12);
    b.writeUInt16LE(d.freeInodes, off + 14);
    b.writeUInt16LE(d.usedDirs, off + 16);
    b.writeUInt16LE(d.blockBitmapCsum & 0xffff, off + 24);
    b.writeUInt16LE(d.inodeBitmapCsum & 0xffff, off + 26);
    // Over the group number, then the descriptor with bg_checksum (its last 2 bytes) zero.
    const c = crc32c(crc32c(fsSeed, le32(i)), b, off, off + GROUP_DESC_SIZE);
    b.writeUInt16LE(c & 0xffff, off + 30);
  });
  return b;
}
