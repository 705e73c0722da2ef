// Encodes one 256-byte inode: 32-bit owners, 48-bit block counts, 64-bit sizes and nanosecond
// timestamps in the extra fields. Knows the byte layout only, not what the fields should hold.
import type { Timestamp } from "../tree.js";
import { crc32c } from "./crc32c.js";
import { EXTRA_ISIZE, INODE_SIZE } from "./format.js";

export interface InodeFields {
  /** File type bits | permission bits. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  links: number;
  /** Blocks the inode owns (data, tree and xattr blocks), in filesystem blocks. */
  blocks: number;
  flags: number;
  fileAcl: number;
  mtime: Timestamp;
  /** Bytes after the extra fields (in-inode xattrs), or null. */
  inlineXattrs: Buffer | null;
}

const MIN_SEC = -(2 ** 31);
const MAX_SEC = 2 ** 31 - 1 + 3 * 2 ** 32;

/** The 32-bit seconds field and the extra word (epoch bits and nanoseconds) of a timestamp. */
export function encodeTime(t: Timestamp): { lo: number; extra: number } {
  const sec = Math.min(MAX_SEC, Math.max(MIN_SEC, Math.floor(t.sec)));
  const nsec = Math.min(999_999_999, Math.max(0, Math.floor(t.nsec)));
  const lo = ((sec % 2 ** 32) + 2 ** 32) % 2 ** 32;
  const signedLo = lo >= 2 ** 31 ? lo - 2 ** 32 : lo;
  const epoch = (sec - signedLo) / 2 ** 32;
  return { lo, extra: ((nsec * 4) + epoch) >>> 0 };
}

/** Where i_block (extent root, fast symlink target or device numbers) is in an inode. */
export const I_BLOCK_OFFSET = 40;

/** Writes the inode at `off` in `buf` (which must be zero there), except i_block. */
export function encodeInode(buf: Buffer, off: number, f: InodeFields, blockSize: number): void {
  const t = encodeTime(f.mtime);
  const sectors = f.blocks * (blockSize / 512);
  buf.writeUInt16LE(f.mode, off);
  buf.writeUInt16LE(f.uid & 0xffff, off + 2);
  buf.writeUInt32LE(f.size % 2 ** 32, off + 4);
  buf.writeUInt32LE(t.lo, off + 8); // atime
  buf.writeUInt32LE(t.lo, off + 12); // ctime
  buf.writeUInt32LE(t.lo, off + 16); // mtime
  buf.writeUInt16LE(f.gid & 0xffff, off + 24);
  buf.writeUInt16LE(f.links, off + 26);
  buf.writeUInt32LE(sectors % 2 ** 32, off + 28);
  buf.writeUInt32LE(f.flags, off + 32);
  buf.writeUInt32LE(f.fileAcl % 2 ** 32, off + 104);
  buf.writeUInt32LE(Math.floor(f.size / 2 ** 32), off + 108);
  buf.writeUInt16LE(Math.floor(sectors / 2 ** 32), off + 116);
  buf.writeUInt16LE(Math.floor(f.fileAcl / 2 ** 32), off + 118);
  buf.writeUInt16LE(f.uid >>> 16, off + 120);
  buf.writeUInt16LE(f.gid >>> 16, off + 122);
  buf.writeUInt16LE(EXTRA_ISIZE, off + 128);
  buf.writeUInt32LE(t.extra, off + 132); // ctime extra
  buf.writeUInt32LE(t.extra, off + 136); // mtime extra
  buf.writeUInt32LE(t.extra, off + 140); // atime extra
  buf.writeUInt32LE(t.lo, off + 144); // crtime
  buf.writeUInt32LE(t.extra, off + 148);
  if (f.inlineXattrs !== null) f.inlineXattrs.copy(buf, off + 128 + EXTRA_ISIZE, 0, INODE_SIZE - 128 - EXTRA_ISIZE);
}

/** Sets the metadata_csum checksum of the complete inode at `off` (its checksum fields zero). */
export function setInodeChecksum(buf: Buffer, off: number, inodeSeed: number): void {
  buf.writeUInt16LE(0, off + 124);
  buf.writeUInt16LE(0, off + 130);
  const c = crc32c(inodeSeed, buf, off, off + INODE_SIZE);
  buf.writeUInt16LE(c & 0xffff, off + 124); // l_i_checksum_lo
  buf.writeUInt16LE(c >>> 16, off + 130); // i_checksum_hi
}
