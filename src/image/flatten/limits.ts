// The bounds flattening enforces on hostile layers, with their defaults. Every one is
// configurable; exceeding one is a size_exceeded error naming the layer and the entry.

export interface FlattenLimits {
  /** Uncompressed tar bytes over all layers (bounds decompression bombs too). */
  maxTotalBytes: number;
  /** Tar entries over all layers plus directories created implicitly. */
  maxEntries: number;
  /** Bytes of an entry's path as written in the tar, and of a hardlink target. */
  maxPathBytes: number;
  /** Components of a path. */
  maxDepth: number;
  /** Bytes of one path component (ext4 allows 255). */
  maxNameBytes: number;
  /** Bytes of a symlink target (Linux allows 4095). */
  maxSymlinkBytes: number;
  /** Extended attributes of one entry. */
  maxXattrsPerEntry: number;
  /** Bytes of names plus values of one entry's extended attributes; the default fits one ext4 block. */
  maxXattrBytesPerEntry: number;
  /** Bytes of one PAX or GNU long-name header. */
  maxExtendedHeaderBytes: number;
}

export const DEFAULT_FLATTEN_LIMITS: Readonly<FlattenLimits> = Object.freeze({
  maxTotalBytes: 64 * 2 ** 30,
  maxEntries: 2_000_000,
  maxPathBytes: 4096,
  maxDepth: 1024,
  maxNameBytes: 255,
  maxSymlinkBytes: 4095,
  maxXattrsPerEntry: 64,
  maxXattrBytesPerEntry: 3072,
  maxExtendedHeaderBytes: 1 << 20,
});

export function withDefaults(limits: Partial<FlattenLimits> | undefined): FlattenLimits {
  return { ...DEFAULT_FLATTEN_LIMITS, ...limits };
}
