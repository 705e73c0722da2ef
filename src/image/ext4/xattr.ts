// Encodes extended attributes: as many as fit in the inode's spare 96 bytes, the rest in one
// external attribute block (shared by inodes with identical blocks, as ext4 allows). POSIX ACLs
// are converted from the xattr wire format to ext4's compact on-disk format.
import { WalkError } from "../../lib/errors.js";
import { crc32c } from "./crc32c.js";
import { BLOCK_SIZE, EXTRA_ISIZE, INODE_SIZE } from "./format.js";

const XATTR_MAGIC = 0xea020000;
const ENTRY_HEADER = 16;
const BLOCK_HEADER = 32;
/** In-inode attribute space: after the extra fields, minus the 4-byte magic. */
const INLINE_SPACE = INODE_SIZE - 128 - EXTRA_ISIZE - 4;
/** The most a single attribute block holds, entries and values included. */
const BLOCK_SPACE = BLOCK_SIZE - BLOCK_HEADER - 4;

interface Attr {
  index: number;
  /** Name without the namespace prefix, raw bytes. */
  name: Buffer;
  value: Buffer;
}

// Longest prefix first, so "system.posix_acl_access" wins over a generic "system." rule.
const PREFIXES: [string, number][] = [
  ["system.posix_acl_access", 2],
  ["system.posix_acl_default", 3],
  ["user.", 1],
  ["trusted.", 4],
  ["security.", 6],
];

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function entrySize(a: Attr): number {
  return pad4(ENTRY_HEADER + a.name.length);
}

function valueSize(a: Attr): number {
  return pad4(a.value.length);
}

/** ext4's per-entry hash over the name bytes and the zero-padded value words. */
function entryHash(a: Attr): number {
  let hash = 0;
  for (const c of a.name) hash = ((hash << 5) ^ (hash >>> 27) ^ c) >>> 0;
  const padded = Buffer.alloc(valueSize(a));
  a.value.copy(padded);
  for (let i = 0; i < padded.length; i += 4) hash = ((hash << 16) ^ (hash >>> 16) ^ padded.readUInt32LE(i)) >>> 0;
  return hash;
}

/** VFS "system.posix_acl_*" value (version 2, 8-byte entries) to ext4's on-disk form (version 1). */
function aclToDisk(value: Buffer, where: string): Buffer {
  if (value.length < 4 || (value.length - 4) % 8 !== 0 || value.readUInt32LE(0) !== 2) {
    throw new WalkError("invalid_argument", `${where}: POSIX ACL xattr is malformed`);
  }
  const parts: Buffer[] = [Buffer.from([1, 0, 0, 0])];
  for (let off = 4; off < value.length; off += 8) {
    const tag = value.readUInt16LE(off);
    const perm = value.readUInt16LE(off + 2);
    if (tag === 0x02 || tag === 0x08) {
      const e = Buffer.alloc(8);
      e.writeUInt16LE(tag, 0);
      e.writeUInt16LE(perm, 2);
      e.writeUInt32LE(value.readUInt32LE(off + 4), 4);
      parts.push(e);
    } else if (tag === 0x01 || tag === 0x04 || tag === 0x10 || tag === 0x20) {
      const e = Buffer.alloc(4);
      e.writeUInt16LE(tag, 0);
      e.writeUInt16LE(perm, 2);
      parts.push(e);
    } else {
      throw new WalkError("invalid_argument", `${where}: POSIX ACL has an unknown tag ${tag}`);
    }
  }
  return Buffer.concat(parts);
}

function toAttr(fullName: string, value: Buffer, where: string): Attr {
  if (/[\0]|[^\0-\xff]/.test(fullName)) throw new WalkError("invalid_argument", `${where}: xattr name ${JSON.stringify(fullName)} has a NUL or a character that is not a byte`);
  for (const [prefix, index] of PREFIXES) {
    if (index === 2 || index === 3) {
      if (fullName === prefix) return { index, name: Buffer.alloc(0), value: aclToDisk(value, where) };
      continue;
    }
    if (fullName.startsWith(prefix)) {
      const name = Buffer.from(fullName.slice(prefix.length), "latin1");
      if (name.length === 0 || name.length > 255) throw new WalkError("invalid_argument", `${where}: xattr name ${JSON.stringify(fullName)} has an invalid length`);
      return { index, name, value };
    }
  }
  throw new WalkError("unsupported", `${where}: xattr ${JSON.stringify(fullName)} is not in a namespace ext4 stores (user., trusted., security., system.posix_acl_*)`);
}

function compareAttrs(a: Attr, b: Attr): number {
  return a.index - b.index || a.name.length - b.name.length || Buffer.compare(a.name, b.name);
}

/**
 * Writes entries from `entriesOff` on and values downward from `valuesEnd`; value offsets are
 * relative to `base`. The entry table ends with 4 zero bytes, already zero in `buf`.
 */
function writeEntries(buf: Buffer, attrs: readonly Attr[], entriesOff: number, valuesEnd: number, base: number): void {
  let off = entriesOff;
  let vend = valuesEnd;
  for (const a of attrs) {
    let voff = 0;
    if (a.value.length > 0) {
      vend -= valueSize(a);
      a.value.copy(buf, vend);
      voff = vend - base;
    }
    buf.writeUInt8(a.name.length, off);
    buf.writeUInt8(a.index, off + 1);
    buf.writeUInt16LE(voff, off + 2);
    buf.writeUInt32LE(0, off + 4);
    buf.writeUInt32LE(a.value.length, off + 8);
    buf.writeUInt32LE(entryHash(a), off + 12);
    a.name.copy(buf, off + ENTRY_HEADER);
    off += entrySize(a);
  }
}

export interface XattrLayout {
  /** Bytes for the inode from offset 128 + EXTRA_ISIZE to its end, or null when none is inline. */
  inline: Buffer | null;
  /** A complete attribute block (refcount 1), or null when everything fits in the inode. */
  block: Buffer | null;
}

/** Lays out one inode's xattrs; `where` names the entry in errors. */
export function layoutXattrs(xattrs: ReadonlyMap<string, Buffer>, where: string): XattrLayout {
  if (xattrs.size === 0) return { inline: null, block: null };
  const attrs = [...xattrs].map(([k, v]) => toAttr(k, v, where)).sort(compareAttrs);
  for (let i = 1; i < attrs.length; i++) {
    if (compareAttrs(attrs[i - 1]!, attrs[i]!) === 0) throw new WalkError("invalid_argument", `${where}: duplicate xattr`);
  }
  const inline: Attr[] = [];
  const outside: Attr[] = [];
  let inlineUsed = 4; // the terminating zero word
  for (const a of attrs) {
    const need = entrySize(a) + valueSize(a);
    if (outside.length === 0 && inlineUsed + need <= INLINE_SPACE) {
      inline.push(a);
      inlineUsed += need;
    } else outside.push(a);
  }
  let inlineBuf: Buffer | null = null;
  if (inline.length > 0) {
    inlineBuf = Buffer.alloc(INODE_SIZE - 128 - EXTRA_ISIZE);
    inlineBuf.writeUInt32LE(XATTR_MAGIC, 0);
    writeEntries(inlineBuf, inline, 4, inlineBuf.length, 4);
  }
  let block: Buffer | null = null;
  if (outside.length > 0) {
    const used = 4 + outside.reduce((n, a) => n + entrySize(a) + valueSize(a), 0);
    if (used > BLOCK_SPACE) {
      throw new WalkError("size_exceeded", `${where}: xattrs need ${used + (INLINE_SPACE - inlineUsed)} bytes; an ext4 inode holds at most ${BLOCK_SPACE + INLINE_SPACE - 4} bytes of xattrs (names, values and 16 bytes per entry)`);
    }
    block = Buffer.alloc(BLOCK_SIZE);
    block.writeUInt32LE(XATTR_MAGIC, 0);
    block.writeUInt32LE(1, 4); // h_refcount, raised by the caller when the block is shared
    block.writeUInt32LE(1, 8); // h_blocks
    let hash = 0;
    for (const a of outside) {
      const h = entryHash(a);
      // ext4 defines the block hash as 0 as soon as one entry's hash is 0.
      if (h === 0) {
        hash = 0;
        break;
      }
      hash = ((hash << 16) ^ (hash >>> 16) ^ h) >>> 0;
    }
    block.writeUInt32LE(hash, 12);
    writeEntries(block, outside, BLOCK_HEADER, BLOCK_SIZE, 0);
  }
  return { inline: inlineBuf, block };
}

/** Sets the reference count of an attribute block shared by `refs` inodes, and its checksum at `blockNr`. */
export function finishXattrBlock(block: Buffer, refs: number, blockNr: number, fsSeed: number): void {
  block.writeUInt32LE(refs, 4);
  const nr = Buffer.alloc(8);
  nr.writeUInt32LE(blockNr % 2 ** 32, 0);
  nr.writeUInt32LE(Math.floor(blockNr / 2 ** 32), 4);
  block.writeUInt32LE(0, 16);
  block.writeUInt32LE(crc32c(crc32c(fsSeed, nr), block), 16); // h_checksum
}
