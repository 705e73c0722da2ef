// CRC32C (Castagnoli), the checksum of ext4's metadata_csum feature. Raw form, as ext4 uses it:
// the caller passes the running value (ext4 starts from ~0 or a seed) and no final inversion.

const TABLE = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c >>> 0;
}

export function crc32c(crc: number, data: Uint8Array, start = 0, end = data.length): number {
  let c = crc >>> 0;
  for (let i = start; i < end; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
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

/** An inode's seed, which its inode, extent, directory and index checksums start from. */
export function inodeChecksumSeed(fsSeed: number, ino: number, generation = 0): number {
  return crc32c(crc32c(fsSeed, le32(ino)), le32(generation));
}
