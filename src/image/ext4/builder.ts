// Ext4Builder: builds an ext4 disk image straight into one file, without root, mounting, or ever
// writing an image path to the host filesystem. File contents stream into the data area first
// (DataSink); finish() then writes all metadata after it and the superblock in front.
// The builder never deletes the file: it belongs to the caller, on success and on failure.
import { createHash } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";
import { WalkError } from "../../lib/errors.js";
import type { DataSink, FileData, Node, Timestamp } from "../tree.js";
import { BlockAllocator } from "./allocator.js";
import { blockBitmap, groupDescs, inodeBitmaps } from "./bitmaps.js";
import { DataArea } from "./data-area.js";
import { encodeExtentTree, I_BLOCK_SIZE, splitRuns, treeBlockCount, type ExtentEntry } from "./extents.js";
import { BLOCK_SIZE, EXTENTS_FL, INDEX_FL, INODE_SIZE, MAX_INIT_EXTENT_LEN, MAX_BLOCKS, SUPERBLOCK_OFFSET } from "./format.js";
import { encodeInode, I_BLOCK_OFFSET, setInodeChecksum, type InodeFields } from "./inode.js";
import { computeGeometry, gdtBlocksFor, type Geometry } from "./layout.js";
import { PATCH_MAP_FORMAT, type PatchMap } from "./patch-map.js";
import { planInodes, type PlannedInode } from "./plan.js";
import { reservedExtents, withReservedFiles, type ReservedFileSpec } from "./reserved.js";
import { encodeGroupDescs, encodeSuperblock, hashSeed } from "./superblock.js";
import { BlockWriter } from "./writer.js";
import { finishXattrBlock } from "./xattr.js";
import { fsChecksumSeed, inodeChecksumSeed } from "./crc32c.js";

export interface Ext4BuilderOptions {
  /** The largest disk this build may produce, in bytes. Beyond it: WalkError "size_exceeded". */
  maxBytes: number;
  /** Volume label, at most 16 bytes. Default "". */
  label?: string;
  /** 16 bytes, or the usual 36-character text form. Default: derived from label and timestamp. */
  uuid?: Uint8Array | string;
  /** Seconds since the epoch for the superblock and for directories the builder adds. Default 0. */
  timestamp?: number;
  /** Free inodes to leave beyond what the tree needs (rounding adds up to 15 more). Default 0. */
  spareInodes?: number;
  /** Free blocks to leave beyond what the content needs. Default 16 + 1% of the used blocks. */
  spareBlocks?: number;
}

export interface FinishOptions {
  /** Files with a fixed capacity that patchReservedFile can rewrite on a copy of the disk. */
  reserved?: ReservedFileSpec[];
}

export interface Ext4Result {
  /** The disk file, as given to create(). */
  path: string;
  /** Length of the disk file: blocks * 4096. */
  sizeBytes: number;
  blocks: number;
  freeBlocks: number;
  inodes: number;
  freeInodes: number;
  patchMap: PatchMap;
}

function parseUuid(u: Uint8Array | string | undefined, label: string, timestamp: number): Buffer {
  if (u === undefined) {
    const h = createHash("sha256").update(`walk.io ext4 ${timestamp} `).update(label, "utf8").digest().subarray(0, 16);
    h[6] = (h[6]! & 0x0f) | 0x40;
    h[8] = (h[8]! & 0x3f) | 0x80;
    return Buffer.from(h);
  }
  const b = typeof u === "string" ? Buffer.from(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(u) ? u.replace(/-/g, "") : "", "hex") : Buffer.from(u);
  if (b.length !== 16) throw new WalkError("invalid_argument", "the ext4 uuid must be 16 bytes or xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
  return b;
}

function checkCount(name: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) throw new WalkError("invalid_argument", `ext4 option ${name} must be a non-negative integer`);
}

/** Where finish() put a planned inode's own blocks. */
interface Placed {
  extents: ExtentEntry[];
  /** The root of an extent tree with blocks outside the inode; null: encoded with the inode. */
  treeRoot: Buffer | null;
  xattrBlock: number;
  /** Blocks owned, for i_blocks: data, tree and xattr blocks. */
  blocks: number;
}

export class Ext4Builder implements DataSink {
  private state: "open" | "finishing" | "closed" = "open";

  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    private readonly maxBlocks: number,
    private readonly alloc: BlockAllocator,
    private readonly area: DataArea,
    private readonly timestamp: number,
    private readonly uuid: Buffer,
    private readonly label: Buffer,
    private readonly spareInodes: number,
    private readonly spareBlocks: number | undefined,
  ) {}

  /** Creates the disk file at `path` (which must not exist) and starts a build into it. */
  static async create(path: string, options: Ext4BuilderOptions): Promise<Ext4Builder> {
    const { maxBytes } = options;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 64 * BLOCK_SIZE) throw new WalkError("invalid_argument", `ext4 maxBytes must be an integer of at least ${64 * BLOCK_SIZE}`);
    checkCount("spareInodes", options.spareInodes);
    checkCount("spareBlocks", options.spareBlocks);
    const timestamp = options.timestamp ?? 0;
    if (!Number.isSafeInteger(timestamp) || timestamp < 0 || timestamp >= 2 ** 32) throw new WalkError("invalid_argument", "ext4 timestamp must be seconds between 1970 and 2106");
    const labelText = options.label ?? "";
    const label = Buffer.from(labelText, "utf8");
    if (label.length > 16) throw new WalkError("invalid_argument", `ext4 label ${JSON.stringify(labelText)} is longer than 16 bytes`);
    const uuid = parseUuid(options.uuid, labelText, timestamp);
    const maxBlocks = Math.min(Math.floor(maxBytes / BLOCK_SIZE), MAX_BLOCKS);
    const dataStart = 1 + gdtBlocksFor(maxBlocks);
    const fh = await open(path, "wx+", 0o600);
    const alloc = new BlockAllocator(dataStart, maxBlocks, () => `the disk's file contents exceed the limit of ${maxBlocks * BLOCK_SIZE} bytes`);
    return new Ext4Builder(fh, path, maxBlocks, alloc, new DataArea(fh, alloc), timestamp, uuid, label, options.spareInodes ?? 0, options.spareBlocks);
  }

  /** Streams exactly `size` bytes into the data area; all-zero blocks become holes. One call at a time. */
  async writeData(source: AsyncIterable<Uint8Array>, size: number): Promise<FileData> {
    this.assertOpen();
    return this.area.write(source, size);
  }

  /** Frees the blocks of data a later layer replaced; they are reused by later writes. */
  release(data: FileData): void {
    this.assertOpen();
    for (const e of data.extents) this.alloc.release({ start: e.physical, length: e.length });
  }

  /** Closes the file without finishing it. The caller deletes it. */
  async abort(): Promise<void> {
    if (this.state === "closed") return;
    this.state = "closed";
    await this.fh.close();
  }

  /**
   * Writes every inode, directory and bitmap for the tree rooted at `root`, whose file data must
   * all have come from this builder's writeData, then closes the file. The tree is not changed.
   */
  async finish(root: Node, options: FinishOptions = {}): Promise<Ext4Result> {
    this.assertOpen();
    if (this.area.busy) throw new WalkError("conflict", "finish called while a writeData call is still running");
    this.state = "finishing";
    try {
      const result = await this.writeAll(root, options);
      this.state = "closed";
      await this.fh.close();
      return result;
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  private assertOpen(): void {
    if (this.state !== "open") throw new WalkError("conflict", `the ext4 build of ${this.path} is already finished or aborted`);
  }

  private async writeAll(treeRoot: Node, options: FinishOptions): Promise<Ext4Result> {
    await this.area.flush();
    const ts: Timestamp = { sec: this.timestamp, nsec: 0 };
    const { root, reserved } = withReservedFiles(treeRoot, options.reserved ?? [], ts);
    const dataStart = this.alloc.firstBlock;
    const dataEnd = this.alloc.end;
    const fsSeed = fsChecksumSeed(this.uuid);
    const inodes = planInodes({ root, dataStart, dataEnd, reserved, hashSeed: hashSeed(this.uuid), fsSeed });

    // Blocks each inode needs in the metadata region, before knowing where that region starts.
    const xattrBlocks = new Map<string, { block: Buffer; refs: number; at: number }>();
    let otherMeta = 0;
    const needs = inodes.map((p) => {
      let own = 0;
      if (p.dirBlocks !== undefined) own = p.dirBlocks.length / BLOCK_SIZE;
      else if (p.reserved !== undefined) own = p.reserved.capacityBlocks;
      else if (p.node.kind === "symlink" && p.node.target!.length >= 60) own = 1;
      // File data is already in the data area; the rest gets one contiguous run here.
      const data = p.extents === undefined ? null : splitRuns(p.extents);
      const tree = treeBlockCount(data?.length ?? Math.ceil(own / MAX_INIT_EXTENT_LEN));
      otherMeta += own + tree;
      const xb = p.xattrs.block;
      if (xb !== null) {
        const key = xb.toString("latin1");
        const shared = xattrBlocks.get(key);
        if (shared === undefined) {
          xattrBlocks.set(key, { block: xb, refs: 1, at: 0 });
          otherMeta++;
        } else shared.refs++;
      }
      return { own, tree, data };
    });
    const maxIno = inodes[inodes.length - 1]!.ino;
    const geo = computeGeometry({
      metaStart: dataEnd,
      usedInodes: maxIno,
      spareInodes: this.spareInodes,
      otherMetaBlocks: otherMeta,
      spareBlocks: (used) => this.spareBlocks ?? 16 + Math.ceil(used / 100),
      maxBlocks: this.maxBlocks,
    });

    // Place and write each inode's blocks in ascending order.
    const out = new BlockWriter(this.fh);
    let next = geo.otherMetaStart;
    const placed: Placed[] = [];
    for (const [i, p] of inodes.entries()) {
      const need = needs[i]!;
      let extents: ExtentEntry[];
      let blocks = 0;
      if (need.data !== null) {
        extents = need.data;
        blocks = need.data.reduce((n, e) => n + e.length, 0);
      } else if (p.reserved !== undefined) {
        extents = reservedExtents(next, need.own, p.reserved.content.length);
        const used = Math.ceil(p.reserved.content.length / BLOCK_SIZE);
        const content = Buffer.alloc(used * BLOCK_SIZE);
        content.set(p.reserved.content);
        if (used > 0) await out.put(next, content);
        blocks = need.own;
      } else if (need.own > 0) {
        extents = splitRuns([{ logical: 0, physical: next, length: need.own }]);
        const bytes = p.dirBlocks ?? Buffer.concat([p.node.target!, Buffer.alloc(BLOCK_SIZE - p.node.target!.length)]);
        await out.put(next, bytes);
        blocks = need.own;
      } else extents = [];
      next += need.own;
      const treeStart = next;
      next += need.tree;
      blocks += need.tree;
      let treeRoot: Buffer | null = null;
      if (need.tree > 0) {
        treeRoot = Buffer.alloc(I_BLOCK_SIZE);
        const blocks = encodeExtentTree(extents, treeStart, treeRoot, 0, inodeChecksumSeed(fsSeed, p.ino));
        for (const [j, b] of blocks.entries()) await out.put(treeStart + j, b);
      }
      let xattrBlock = 0;
      const xb = p.xattrs.block;
      if (xb !== null) {
        const shared = xattrBlocks.get(xb.toString("latin1"))!;
        if (shared.at === 0) {
          shared.at = next++;
          finishXattrBlock(shared.block, shared.refs, shared.at, fsSeed);
          await out.put(shared.at, shared.block);
        }
        xattrBlock = shared.at;
        blocks++;
      }
      placed.push({ extents, treeRoot, xattrBlock, blocks });
    }
    await out.flush();
    const metaEnd = next;

    const bitmap = blockBitmap(geo, inodes, dataEnd, metaEnd);
    await this.writeInodeTables(geo, inodes, placed, fsSeed);
    const inodeBitmap = inodeBitmaps(geo, maxIno);
    const { descs, freeBlocks, freeInodes } = groupDescs(geo, inodes, bitmap, inodeBitmap, maxIno, fsSeed);
    await this.fh.write(bitmap, 0, bitmap.length, geo.blockBitmapStart * BLOCK_SIZE);
    await this.fh.write(inodeBitmap, 0, inodeBitmap.length, geo.inodeBitmapStart * BLOCK_SIZE);
    const gdt = encodeGroupDescs(descs, BLOCK_SIZE, fsSeed);
    await this.fh.write(gdt, 0, gdt.length, BLOCK_SIZE);
    const inodesCount = geo.groups * geo.inodesPerGroup;
    const sb = encodeSuperblock({
      inodesCount,
      blocksCount: geo.totalBlocks,
      freeBlocks,
      freeInodes,
      inodesPerGroup: geo.inodesPerGroup,
      timestamp: this.timestamp,
      uuid: this.uuid,
      label: this.label,
    });
    await this.fh.write(sb, 0, sb.length, SUPERBLOCK_OFFSET);
    const sizeBytes = geo.totalBlocks * BLOCK_SIZE;
    await this.fh.truncate(sizeBytes);
    return {
      path: this.path,
      sizeBytes,
      blocks: geo.totalBlocks,
      freeBlocks,
      inodes: inodesCount,
      freeInodes,
      patchMap: this.patchMap(geo, inodes, placed, sizeBytes),
    };
  }

  private inodeOffset(geo: Geometry, ino: number): number {
    const group = Math.floor((ino - 1) / geo.inodesPerGroup);
    const index = (ino - 1) % geo.inodesPerGroup;
    return (geo.inodeTableStart + group * geo.inodeTableBlocksPerGroup) * BLOCK_SIZE + index * INODE_SIZE;
  }

  private async writeInodeTables(geo: Geometry, inodes: readonly PlannedInode[], placed: readonly Placed[], fsSeed: number): Promise<void> {
    const table = Buffer.alloc(geo.inodesPerGroup * INODE_SIZE);
    let i = 0;
    for (let g = 0; g < geo.groups && i < inodes.length; g++) {
      table.fill(0);
      const first = g * geo.inodesPerGroup + 1;
      for (; i < inodes.length && inodes[i]!.ino < first + geo.inodesPerGroup; i++) {
        const p = inodes[i]!;
        const off = (p.ino - first) * INODE_SIZE;
        encodeInode(table, off, inodeFields(p, placed[i]!), BLOCK_SIZE);
        writeIBlock(table, off + I_BLOCK_OFFSET, p, placed[i]!);
        setInodeChecksum(table, off, inodeChecksumSeed(fsSeed, p.ino));
      }
      await this.fh.write(table, 0, table.length, (geo.inodeTableStart + g * geo.inodeTableBlocksPerGroup) * BLOCK_SIZE);
    }
  }

  private patchMap(geo: Geometry, inodes: readonly PlannedInode[], placed: readonly Placed[], diskBytes: number): PatchMap {
    const files: PatchMap["files"] = {};
    inodes.forEach((p, i) => {
      if (p.reserved === undefined) return;
      const start = placed[i]!.extents[0]!.physical;
      files[p.reserved.name] = {
        inode: p.ino,
        inodeOffset: this.inodeOffset(geo, p.ino),
        dataOffset: start * BLOCK_SIZE,
        capacityBlocks: p.reserved.capacityBlocks,
        capacity: p.reserved.capacity,
      };
    });
    return { format: PATCH_MAP_FORMAT, blockSize: BLOCK_SIZE, diskBytes, files };
  }
}


function usesExtents(n: Node): boolean {
  return n.kind === "file" || n.kind === "dir" || (n.kind === "symlink" && n.target!.length >= 60);
}

function inodeFields(p: PlannedInode, at: Placed): InodeFields {
  const n = p.node;
  let size = 0;
  if (n.kind === "file") size = p.reserved !== undefined ? p.reserved.content.length : n.data!.size;
  else if (n.kind === "dir") size = p.dirBlocks!.length;
  else if (n.kind === "symlink") size = n.target!.length;
  return {
    mode: p.typeBits | n.mode,
    uid: n.uid,
    gid: n.gid,
    size,
    links: p.links,
    blocks: at.blocks,
    flags: (usesExtents(n) ? EXTENTS_FL : 0) | (p.dirIndexed === true ? INDEX_FL : 0),
    fileAcl: at.xattrBlock,
    mtime: n.mtime,
    inlineXattrs: p.xattrs.inline,
  };
}

/** i_block: the extent root, a fast symlink's target, or the device numbers. */
function writeIBlock(buf: Buffer, off: number, p: PlannedInode, at: Placed): void {
  const n = p.node;
  if (usesExtents(n)) {
    if (at.treeRoot !== null) at.treeRoot.copy(buf, off);
    else encodeExtentTree(at.extents, 0, buf, off, 0); // root only: no tree block to checksum
  } else if (n.kind === "symlink") n.target!.copy(buf, off);
  else if (n.kind === "char" || n.kind === "block") {
    const { major, minor } = n.rdev!;
    // The old 16-bit encoding where it fits, as the kernel writes it; else the new one in i_block[1].
    if (major < 256 && minor < 256) buf.writeUInt32LE((major << 8) | minor, off);
    else buf.writeUInt32LE(((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0, off + 4);
  }
}
