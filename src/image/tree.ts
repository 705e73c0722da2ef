// The flattened filesystem tree: what layer flattening (src/image/flatten) produces and the ext4
// writer (src/image/ext4) consumes. Only metadata lives here; file contents are already written
// into the disk's data area and are referred to by block extents.

export type NodeKind = "file" | "dir" | "symlink" | "char" | "block" | "fifo" | "socket";

/** A run of `length` data blocks of a file, at file block `logical`, stored at disk block `physical`. */
export interface DataExtent {
  logical: number;
  physical: number;
  length: number;
}

/** Where a regular file's bytes are on the disk being built. Holes are blocks with no extent. */
export interface FileData {
  size: number;
  extents: DataExtent[];
}

export interface Timestamp {
  sec: number;
  nsec: number;
}

/**
 * One inode. Several directory entries may hold the same Node object: that is a hardlink, and
 * the writer derives the link count from the references it finds.
 */
export interface Node {
  kind: NodeKind;
  /** Permission bits including setuid, setgid and sticky (mask 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  mtime: Timestamp;
  /** Extended attributes by full name ("security.capability", "user.x"); values are raw bytes. */
  xattrs: Map<string, Buffer>;
  /** kind "file". */
  data?: FileData;
  /** kind "symlink": the raw target bytes, never resolved on the host. */
  target?: Buffer;
  /** kind "char" and "block". */
  rdev?: { major: number; minor: number };
  /**
   * kind "dir". Keys are binary strings: one JS character per byte of the name (latin1), so names
   * that are not valid UTF-8 survive. Never "", ".", ".." and never containing "/" or NUL.
   */
  children?: Map<string, Node>;
}

export function newDir(mode = 0o755, uid = 0, gid = 0, mtime: Timestamp = { sec: 0, nsec: 0 }): Node {
  return { kind: "dir", mode, uid, gid, mtime, xattrs: new Map(), children: new Map() };
}

/**
 * Where flattening puts file contents as it streams them: the ext4 builder implements this by
 * writing straight into the disk's data area, so each byte is written once and no image path ever
 * touches the host filesystem.
 */
export interface DataSink {
  /** Consumes exactly `size` bytes from `source` and returns where they were stored. */
  writeData(source: AsyncIterable<Uint8Array>, size: number): Promise<FileData>;
  /** Gives back the blocks of a file that a later layer replaced or deleted. */
  release(data: FileData): void;
}
