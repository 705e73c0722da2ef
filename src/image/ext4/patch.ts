// Rewrites a reserved file (e.g. /walk/env) in a copy of a built disk: new content, i_size, the
// split between its initialized and unwritten extents, and the inode's checksum. Its blocks stay
// allocated to it, so bitmaps and free counts never change and the disk stays e2fsck-clean.
// Checks that the disk matches the patch map before writing anything.
import { open, type FileHandle } from "node:fs/promises";
import { WalkError } from "../../lib/errors.js";
import { encodeExtentTree, I_BLOCK_SIZE } from "./extents.js";
import { fsChecksumSeed, inodeChecksumSeed } from "./crc32c.js";
import { BLOCK_SIZE, EXTENTS_FL, INODE_SIZE, S_IFREG, SUPER_MAGIC, SUPERBLOCK_OFFSET } from "./format.js";
import { I_BLOCK_OFFSET, setInodeChecksum } from "./inode.js";
import { PATCH_MAP_FORMAT, type PatchMap } from "./patch-map.js";
import { reservedExtents } from "./reserved.js";

const ZEROS = Buffer.alloc(1 << 20);

function mismatch(name: string, why: string): WalkError {
  return new WalkError("conflict", `the disk does not match its patch map for ${JSON.stringify(name)}: ${why}`);
}

/** Replaces the content of reserved file `name` in the disk at `target` (a path or an open handle). */
export async function patchReservedFile(target: string | FileHandle, map: PatchMap, name: string, content: Uint8Array): Promise<void> {
  if (map.format !== PATCH_MAP_FORMAT || map.blockSize !== BLOCK_SIZE) throw new WalkError("unsupported", `patch map format ${String(map.format)} is not ${PATCH_MAP_FORMAT}`);
  const loc = map.files[name];
  if (loc === undefined) throw new WalkError("not_found", `the disk has no reserved file ${JSON.stringify(name)}`);
  if (content.length > loc.capacity) {
    throw new WalkError("size_exceeded", `content of ${content.length} bytes exceeds the capacity of reserved file ${JSON.stringify(name)} (${loc.capacity} bytes)`);
  }
  const fh = typeof target === "string" ? await open(target, "r+") : target;
  try {
    const { size } = await fh.stat();
    if (size !== map.diskBytes) throw mismatch(name, `the disk has ${size} bytes, the map says ${map.diskBytes}`);
    const sb = Buffer.alloc(1024);
    await fh.read(sb, 0, sb.length, SUPERBLOCK_OFFSET);
    if (sb.readUInt16LE(56) !== SUPER_MAGIC) throw mismatch(name, "it has no ext4 superblock");
    const fsSeed = fsChecksumSeed(sb.subarray(104, 120));
    const inode = Buffer.alloc(INODE_SIZE);
    await fh.read(inode, 0, INODE_SIZE, loc.inodeOffset);
    const start = loc.dataOffset / BLOCK_SIZE;
    const oldSize = inode.readUInt32LE(4) + inode.readUInt32LE(108) * 2 ** 32;
    const expected = Buffer.alloc(I_BLOCK_SIZE);
    encodeExtentTree(reservedExtents(start, loc.capacityBlocks, oldSize), 0, expected, 0, 0);
    if ((inode.readUInt16LE(0) & 0o170000) !== S_IFREG || (inode.readUInt32LE(32) & EXTENTS_FL) === 0 || !inode.subarray(I_BLOCK_OFFSET, I_BLOCK_OFFSET + I_BLOCK_SIZE).equals(expected)) {
      throw mismatch(name, `inode ${loc.inode} is not the reserved file the map describes`);
    }
    // New content, zero-padded to its last block, then zeros over what the old content used:
    // the result is byte-identical to a disk built with the new content.
    const used = Math.ceil(content.length / BLOCK_SIZE) * BLOCK_SIZE;
    const data = Buffer.alloc(used);
    data.set(content);
    if (used > 0) await fh.write(data, 0, used, loc.dataOffset);
    const oldUsed = Math.ceil(oldSize / BLOCK_SIZE) * BLOCK_SIZE;
    for (let off = used; off < oldUsed; off += ZEROS.length) {
      await fh.write(ZEROS, 0, Math.min(ZEROS.length, oldUsed - off), loc.dataOffset + off);
    }
    inode.writeUInt32LE(content.length % 2 ** 32, 4);
    inode.writeUInt32LE(Math.floor(content.length / 2 ** 32), 108);
    inode.fill(0, I_BLOCK_OFFSET, I_BLOCK_OFFSET + I_BLOCK_SIZE);
    encodeExtentTree(reservedExtents(start, loc.capacityBlocks, content.length), 0, inode, I_BLOCK_OFFSET, 0);
    setInodeChecksum(inode, 0, inodeChecksumSeed(fsSeed, loc.inode));
    await fh.write(inode, 0, INODE_SIZE, loc.inodeOffset);
  } finally {
    if (typeof target === "string") await fh.close();
  }
}
