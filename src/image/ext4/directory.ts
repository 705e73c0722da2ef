// Encodes directories. One block: a linear directory. More: an htree (dir_index) so the guest
// kernel finds a name in a large directory without scanning it: block 0 is the index root, then
// (past 507 leaves) one level of index nodes, then leaf blocks holding the entries in hash order.
// Every block ends in its metadata_csum checksum (a tail entry, or a dx_tail in index blocks).
// Building is O(n log n) in the entries (one sort by hash).
import { WalkError } from "../../lib/errors.js";
import { crc32c } from "./crc32c.js";
import { dirHash } from "./dirhash.js";
import { BLOCK_SIZE, FT_DIR } from "./format.js";

export interface DirEntry {
  /** Binary string, one character per byte. */
  name: string;
  ino: number;
  fileType: number;
}

export interface EncodedDirectory {
  /** All blocks of the directory, concatenated. */
  bytes: Buffer;
  /** True when block 0 is an htree root (the inode needs EXT4_INDEX_FL). */
  indexed: boolean;
}

const HEADER = 8;
const HASH_VERSION_HALF_MD4 = 1;
/** The checksum entry at the end of every leaf block: inode 0, rec_len 12, file type 0xde. */
const TAIL = 12;
const USABLE = BLOCK_SIZE - TAIL;
const DX_TAIL = 8;
const ROOT_COUNT_OFFSET = 32; // after the root's fake "." and ".." and dx_root_info
const NODE_COUNT_OFFSET = 8; // after a node's empty fake entry
const ROOT_LIMIT = (BLOCK_SIZE - ROOT_COUNT_OFFSET - DX_TAIL) / 8; // 507
const NODE_LIMIT = (BLOCK_SIZE - NODE_COUNT_OFFSET - DX_TAIL) / 8; // 510

function recLen(nameLen: number): number {
  return (HEADER + nameLen + 3) & ~3;
}

/** Packs entries into checksummed blocks in the order given; returns them and each block's first entry. */
function packBlocks(all: readonly DirEntry[], inodeSeed: number): { buf: Buffer; firsts: number[] } {
  const firsts = [0];
  let bytes = 0;
  all.forEach((e, i) => {
    const len = recLen(e.name.length);
    if (bytes + len > USABLE) {
      firsts.push(i);
      bytes = 0;
    }
    bytes += len;
  });
  const buf = Buffer.alloc(firsts.length * BLOCK_SIZE);
  let block = -1;
  let off = 0;
  let lastOff = -1;
  all.forEach((e, i) => {
    if (firsts[block + 1] === i) {
      // The last entry of a block stretches to the checksum entry.
      if (lastOff >= 0) buf.writeUInt16LE(block * BLOCK_SIZE + USABLE - lastOff, lastOff + 4);
      block++;
      off = block * BLOCK_SIZE;
    }
    buf.writeUInt32LE(e.ino, off);
    buf.writeUInt16LE(recLen(e.name.length), off + 4);
    buf.writeUInt8(e.name.length, off + 6);
    buf.writeUInt8(e.fileType, off + 7);
    buf.write(e.name, off + HEADER, "latin1");
    lastOff = off;
    off += recLen(e.name.length);
  });
  buf.writeUInt16LE(block * BLOCK_SIZE + USABLE - lastOff, lastOff + 4);
  for (let b = 0; b < firsts.length; b++) {
    const tail = b * BLOCK_SIZE + USABLE;
    buf.writeUInt16LE(TAIL, tail + 4);
    buf.writeUInt8(0xde, tail + 7);
    buf.writeUInt32LE(crc32c(inodeSeed, buf, b * BLOCK_SIZE, tail), tail + 8);
  }
  return { buf, firsts };
}

interface IndexEntry {
  hash: number;
  block: number;
}

/** Writes an index (count/limit, entries) at `countOffset` of the block at `blockOff`, and its dx_tail. */
function writeIndex(buf: Buffer, blockOff: number, countOffset: number, limit: number, entries: readonly IndexEntry[], inodeSeed: number): void {
  const off = blockOff + countOffset;
  buf.writeUInt16LE(limit, off);
  buf.writeUInt16LE(entries.length, off + 2);
  buf.writeUInt32LE(entries[0]!.block, off + 4); // the first entry's hash is implicitly 0
  for (let i = 1; i < entries.length; i++) {
    buf.writeUInt32LE(entries[i]!.hash, off + i * 8);
    buf.writeUInt32LE(entries[i]!.block, off + i * 8 + 4);
  }
  // The checksum covers the block up to the last used entry, then the tail with its checksum zero.
  const tail = off + limit * 8;
  const c = crc32c(crc32c(inodeSeed, buf, blockOff, off + entries.length * 8), buf, tail, tail + DX_TAIL);
  buf.writeUInt32LE(c, tail + 4);
}

/** Encodes a directory; names must already be valid (1..255 bytes, no "/" or NUL). */
export function encodeDirectory(selfIno: number, parentIno: number, entries: readonly DirEntry[], hashSeed: readonly number[], inodeSeed: number): EncodedDirectory {
  const dots: DirEntry[] = [{ name: ".", ino: selfIno, fileType: FT_DIR }, { name: "..", ino: parentIno, fileType: FT_DIR }];
  // Sizes first: a large directory is never packed linearly only to be thrown away.
  let linearBytes = recLen(1) + recLen(2);
  for (let i = 0; i < entries.length && linearBytes <= USABLE; i++) linearBytes += recLen(entries[i]!.name.length);
  if (linearBytes <= USABLE) return { bytes: packBlocks([...dots, ...entries], inodeSeed).buf, indexed: false };

  const hashed = entries.map((e) => ({ e, hash: dirHash(e.name, hashSeed) }));
  hashed.sort((a, b) => a.hash - b.hash || (a.e.name < b.e.name ? -1 : 1));
  const leaves = packBlocks(hashed.map((h) => h.e), inodeSeed);
  const leafCount = leaves.firsts.length;
  const levels = leafCount <= ROOT_LIMIT ? 0 : 1;
  const nodeCount = levels === 0 ? 0 : Math.ceil(leafCount / NODE_LIMIT);
  if (nodeCount > ROOT_LIMIT) throw new WalkError("size_exceeded", `a directory with ${entries.length} entries is larger than an ext4 htree holds without large_dir`);
  const firstLeaf = 1 + nodeCount;
  // A leaf whose first hash equals the previous leaf's last one is a continuation: low bit set.
  const leafIndex: IndexEntry[] = leaves.firsts.map((first, i) => {
    const hash = hashed[first]!.hash;
    const cont = i > 0 && hashed[first - 1]!.hash === hash ? 1 : 0;
    return { hash: (hash | cont) >>> 0, block: firstLeaf + i };
  });

  const bytes = Buffer.alloc((firstLeaf + leafCount) * BLOCK_SIZE);
  // Root: fake "." (rec_len 12) and ".." (the rest of the block), then dx_root_info and entries.
  bytes.writeUInt32LE(selfIno, 0);
  bytes.writeUInt16LE(12, 4);
  bytes.writeUInt8(1, 6);
  bytes.writeUInt8(FT_DIR, 7);
  bytes.write(".", 8, "latin1");
  bytes.writeUInt32LE(parentIno, 12);
  bytes.writeUInt16LE(BLOCK_SIZE - 12, 16);
  bytes.writeUInt8(2, 18);
  bytes.writeUInt8(FT_DIR, 19);
  bytes.write("..", 20, "latin1");
  bytes.writeUInt8(HASH_VERSION_HALF_MD4, 28);
  bytes.writeUInt8(8, 29); // info_length
  bytes.writeUInt8(levels, 30);
  if (levels === 0) writeIndex(bytes, 0, ROOT_COUNT_OFFSET, ROOT_LIMIT, leafIndex, inodeSeed);
  else {
    const nodes: IndexEntry[] = [];
    for (let n = 0; n < nodeCount; n++) {
      const chunk = leafIndex.slice(n * NODE_LIMIT, (n + 1) * NODE_LIMIT);
      const off = (1 + n) * BLOCK_SIZE;
      bytes.writeUInt16LE(BLOCK_SIZE, off + 4); // an empty entry spanning the block
      writeIndex(bytes, off, NODE_COUNT_OFFSET, NODE_LIMIT, chunk, inodeSeed);
      nodes.push({ hash: chunk[0]!.hash, block: 1 + n });
    }
    writeIndex(bytes, 0, ROOT_COUNT_OFFSET, ROOT_LIMIT, nodes, inodeSeed);
  }
  leaves.buf.copy(bytes, firstLeaf * BLOCK_SIZE);
  return { bytes, indexed: true };
}
