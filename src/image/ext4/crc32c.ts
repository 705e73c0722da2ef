// CRC32C (Castagnoli), the checksum of ext4's metadata_csum feature. Raw form, as ext4 uses it:
// the caller passes the running value (ext4 starts from ~0 or a seed) and no final inversion.

// Slicing by 8: eight tables, eight bytes per step. Every inode, directory block and extent
// block is summed, so this is a large part of finishing a disk with many entries.
// T[k * 256 + n] is the CRC of byte n followed by k zero bytes.
const T = new Uint32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  T[n] = c >>> 0;
}
for (let n = 0; n < 256; n++) {
  for (let k = 1; k < 8; k++) T[k * 256 + n] = (T[(k - 1) * 256 + n]! >>> 8) ^ T[T[(k - 1) * 256 + n]! & 0xff]!;
}

export function crc32c(crc: number, data: Uint8Array, start = 0, end = data.length): number {
  let c = crc | 0;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const lo = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    const hi = data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24);
    c =
      T[7 * 256 + (lo & 0xff)]! ^
      T[6 * 256 + ((lo >>> 8) & 0xff)]! ^
      T[5 * 256 + ((lo >>> 16) & 0xff)]! ^
      T[4 * 256 + (lo >>> 24)]! ^
      T[3 * 256 + (hi & 0xff)]! ^
      T[2 * 256 + ((hi >>> 8) & 0xff)]! ^
      T[256 + ((hi >>> 16) & 0xff)]! ^
      T[hi >>> 24]!;
  }
  for (; i < end; i++) c = T[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

export function le32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** The filesystem's checksum seed: crc32c(~0, uuid). */
export function fsChecksumSeed(uuid: Uint8Array): number {
  return crc32c(0xffffffff, uuid);
}

/** crc32c(crc, le32(n)) without a buffer: this runs once or more per inode. */
export function crc32cLe32(crc: number, n: number): number {
  let c = crc | 0;
  for (let k = 0; k < 4; k++) c = T[(c ^ (n >>> (8 * k))) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** An inode's seed, which its inode, extent, directory and index checksums start from. */
export function inodeChecksumSeed(fsSeed: number, ino: number, generation = 0): number {
  return crc32cLe32(crc32cLe32(fsSeed, ino), generation);
}
