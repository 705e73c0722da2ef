// The patch map: a small JSON document that says where a built disk keeps its reserved files,
// so a copy of the disk can get new contents for them without rebuilding (see patch.ts).

export const PATCH_MAP_FORMAT = "walk-ext4-patch-v1";

export interface ReservedFileLocation {
  inode: number;
  /** Byte offset of the file's 256-byte inode in the disk. */
  inodeOffset: number;
  /** Byte offset of the first of the file's contiguous capacity blocks. */
  dataOffset: number;
  /** Contiguous blocks the file owns whatever its size. */
  capacityBlocks: number;
  /** The most bytes the file may hold, as given when building (at most capacityBlocks * blockSize). */
  capacity: number;
}

export interface PatchMap {
  format: typeof PATCH_MAP_FORMAT;
  blockSize: number;
  /** Length of the disk file the map belongs to. */
  diskBytes: number;
  /** Keyed by the path components joined by "/" (e.g. "walk/argv"), binary strings. */
  files: Record<string, ReservedFileLocation>;
}
