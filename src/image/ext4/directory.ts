// Encodes linear directories: "." and "..", then the entries in the order given, packed into
// 4 KiB blocks with the filetype byte. Linear (no htree), so building is O(entries).
import { BLOCK_SIZE } from "./format.js";

export interface DirEntry {
  /** Binary string, one character per byte. */
  name: string;
  ino: number;
  fileType: number;
}

const HEADER = 8;

function recLen(nameLen: number): number {
  return (HEADER + nameLen + 3) & ~3;
}

/** All blocks of one directory, concatenated. Names must already be valid (1..255 bytes). */
export function encodeDirectory(selfIno: number, parentIno: number, entries: readonly DirEntry[]): Buffer {
  const all: DirEntry[] = [{ name: ".", ino: selfIno, fileType: 2 }, { name: "..", ino: parentIno, fileType: 2 }, ...entries];
  let bytes = 0;
  let blocks = 1;
  for (const e of all) {
    const len = recLen(e.name.length);
    if (bytes + len > BLOCK_SIZE) {
      blocks++;
      bytes = 0;
    }
    bytes += len;
  }
  const buf = Buffer.alloc(blocks * BLOCK_SIZE);
  let blockStart = 0;
  let off = 0;
  let lastOff = -1;
  for (const e of all) {
    const len = recLen(e.name.length);
    if (off - blockStart + len > BLOCK_SIZE) {
      // The last entry of a block stretches to its end.
      buf.writeUInt16LE(blockStart + BLOCK_SIZE - lastOff, lastOff + 4);
      blockStart += BLOCK_SIZE;
      off = blockStart;
    }
    buf.writeUInt32LE(e.ino, off);
    buf.writeUInt16LE(len, off + 4);
    buf.writeUInt8(e.name.length, off + 6);
    buf.writeUInt8(e.fileType, off + 7);
    buf.write(e.name, off + HEADER, "latin1");
    lastOff = off;
    off += len;
  }
  buf.writeUInt16LE(blockStart + BLOCK_SIZE - lastOff, lastOff + 4);
  return buf;
}
