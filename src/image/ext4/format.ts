// ext4 on-disk constants walk's writer uses: the fixed geometry (4 KiB blocks, 256-byte inodes),
// the feature set, and the numbers of the special inodes. Values only; no I/O and no layout logic.

export const BLOCK_SIZE = 4096;
export const LOG_BLOCK_SIZE = 2; // 1024 << 2
export const BLOCKS_PER_GROUP = BLOCK_SIZE * 8; // one block bitmap block covers one group
export const MAX_INODES_PER_GROUP = BLOCK_SIZE * 8;
export const INODE_SIZE = 256;
export const INODES_PER_BLOCK = BLOCK_SIZE / INODE_SIZE;
/** Bytes of the inode after the 128-byte base that the writer uses (through i_projid). */
export const EXTRA_ISIZE = 32;
export const GROUP_DESC_SIZE = 32;
/** Without the 64bit feature block numbers are 32 bits. */
export const MAX_BLOCKS = 2 ** 32 - 1;

export const SUPERBLOCK_OFFSET = 1024;
export const SUPER_MAGIC = 0xef53;

export const ROOT_INO = 2;
export const FIRST_INO = 11; // inodes 1..10 are reserved by ext4

/** The longest run of blocks one initialized extent can describe (unwritten: one less). */
export const MAX_INIT_EXTENT_LEN = 32768;
export const MAX_UNWRITTEN_EXTENT_LEN = 32767;

/** e2fsck and the kernel cap i_links_count here; directories above it use dir_nlink's "1". */
export const LINK_MAX = 65000;

export const COMPAT_EXT_ATTR = 0x0008;
export const COMPAT_DIR_INDEX = 0x0020;
export const COMPAT_SPARSE_SUPER2 = 0x0200;
export const INCOMPAT_FILETYPE = 0x0002;
export const INCOMPAT_EXTENTS = 0x0040;
export const INCOMPAT_FLEX_BG = 0x0200;
export const RO_COMPAT_SPARSE_SUPER = 0x0001;
export const RO_COMPAT_LARGE_FILE = 0x0002;
export const RO_COMPAT_HUGE_FILE = 0x0008;
export const RO_COMPAT_DIR_NLINK = 0x0020;
export const RO_COMPAT_EXTRA_ISIZE = 0x0040;
export const RO_COMPAT_METADATA_CSUM = 0x0400;

export const FEATURE_COMPAT = COMPAT_EXT_ATTR | COMPAT_DIR_INDEX | COMPAT_SPARSE_SUPER2;
export const FEATURE_INCOMPAT = INCOMPAT_FILETYPE | INCOMPAT_EXTENTS | INCOMPAT_FLEX_BG;
export const FEATURE_RO_COMPAT =
  RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE | RO_COMPAT_HUGE_FILE | RO_COMPAT_DIR_NLINK | RO_COMPAT_EXTRA_ISIZE | RO_COMPAT_METADATA_CSUM;
/** Flex groups only steer the kernel's allocator, which never runs on a read-only disk. */
export const LOG_GROUPS_PER_FLEX = 4;

export const EXTENTS_FL = 0x00080000;
export const INDEX_FL = 0x00001000; // directory has an htree

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFDIR = 0o040000;
export const S_IFBLK = 0o060000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFSOCK = 0o140000;

/** Directory entry file types (the filetype feature). */
export const FT_REG = 1;
export const FT_DIR = 2;
export const FT_CHR = 3;
export const FT_BLK = 4;
export const FT_FIFO = 5;
export const FT_SOCK = 6;
export const FT_LNK = 7;
