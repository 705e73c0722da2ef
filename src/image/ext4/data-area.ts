// Streams regular file contents into the disk's data area as they arrive: each byte is written
// once, in large sequential writes, and all-zero blocks are left as holes so sparse files cost
// nothing. Returns the extents the bytes landed in. Never buffers more than one write's worth.
//
// Consecutive files whose blocks are adjacent on disk share one write: a file's bytes are copied
// straight behind the blocks still waiting in the buffer, and the buffer goes to disk only when
// it is full, when the next blocks are not adjacent, or at flush(). Thousands of small files thus
// cost a few dozen writes instead of one awaited write each.
import type { FileHandle } from "node:fs/promises";
import { WalkError } from "../../lib/errors.js";
import type { DataExtent, FileData } from "../tree.js";
import type { BlockAllocator } from "./allocator.js";
import { BLOCK_SIZE } from "./format.js";

const BUFFER_BLOCKS = 1024; // 4 MiB per write at most
const ZERO_BLOCK = Buffer.alloc(BLOCK_SIZE);
/** Logical block numbers in an extent are 32 bits. */
export const MAX_FILE_SIZE = 2 ** 32 * BLOCK_SIZE;

export class DataArea {
  private readonly buf = Buffer.allocUnsafe(BUFFER_BLOCKS * BLOCK_SIZE);
  /** Blocks at the front of `buf` that are placed on disk (from `pendingStart` on) but not written yet. */
  private pending = 0;
  private pendingStart = 0;
  private writing = false;

  constructor(
    private readonly fh: FileHandle,
    private readonly alloc: BlockAllocator,
  ) {}

  /** A write is under way. */
  get busy(): boolean {
    return this.writing;
  }

  async write(source: AsyncIterable<Uint8Array>, size: number): Promise<FileData> {
    if (!Number.isSafeInteger(size) || size < 0) throw new WalkError("invalid_argument", `file size ${size} is not a byte count`);
    if (size > MAX_FILE_SIZE) throw new WalkError("size_exceeded", `a file of ${size} bytes is larger than ext4 allows (${MAX_FILE_SIZE})`);
    if (this.writing) throw new WalkError("internal", "writeData called again before the previous call finished");
    this.writing = true;
    const extents: DataExtent[] = [];
    const pendingBefore = this.pending;
    let flushed = false;
    try {
      let received = 0;
      // Bytes of this file in `buf` behind the pending blocks, not placed yet.
      let fill = 0;
      let logical = 0;
      for await (const chunk of source) {
        if (received + chunk.length > size) {
          throw new WalkError("invalid_argument", `file content is longer than its declared ${size} bytes`);
        }
        received += chunk.length;
        let off = 0;
        while (off < chunk.length) {
          const at = this.pending * BLOCK_SIZE + fill;
          const n = Math.min(chunk.length - off, this.buf.length - at);
          this.buf.set(n === chunk.length ? chunk : chunk.subarray(off, off + n), at);
          fill += n;
          off += n;
          if (at + n === this.buf.length) {
            // The buffer is full, so `fill` is whole blocks.
            const blocks = fill / BLOCK_SIZE;
            flushed = (await this.place(blocks, logical, extents)) || flushed;
            logical += blocks;
            fill = 0;
          }
        }
      }
      if (received !== size) {
        throw new WalkError("invalid_argument", `file content ended after ${received} of its declared ${size} bytes`);
      }
      if (fill > 0) {
        const blocks = Math.ceil(fill / BLOCK_SIZE);
        const at = this.pending * BLOCK_SIZE;
        this.buf.fill(0, at + fill, at + blocks * BLOCK_SIZE);
        flushed = (await this.place(blocks, logical, extents)) || flushed;
      }
      return { size, extents };
    } catch (err) {
      for (const e of extents) this.alloc.release({ start: e.physical, length: e.length });
      // This file's blocks still in the buffer are dropped: after a flush, everything pending is its.
      this.pending = flushed ? 0 : pendingBefore;
      throw err;
    } finally {
      this.writing = false;
    }
  }

  /** Writes the blocks still waiting in the buffer. */
  async flush(): Promise<void> {
    if (this.pending === 0) return;
    const blocks = this.pending;
    this.pending = 0;
    await this.fh.write(this.buf, 0, blocks * BLOCK_SIZE, this.pendingStart * BLOCK_SIZE);
  }

  /**
   * Places the `blocks` blocks of file data that sit right behind the pending ones: allocates
   * disk blocks for the non-zero ones and makes them pending, moving them down over skipped zero
   * blocks (sparse files only). Returns whether it had to write the buffer.
   */
  private async place(blocks: number, logical: number, extents: DataExtent[]): Promise<boolean> {
    let flushed = false;
    let from = this.pending; // buffer block holding block 0 of this region
    let i = 0;
    while (i < blocks) {
      if (this.isZero(from + i)) {
        i++;
        continue;
      }
      let j = i + 1;
      while (j < blocks && !this.isZero(from + j)) j++;
      // Blocks i..j-1 hold data; the allocator may hand them out in several runs.
      let k = i;
      while (k < j) {
        const run = this.alloc.alloc(j - k);
        if (this.pending > 0 && run.start !== this.pendingStart + this.pending) {
          // Not adjacent to what waits: write that, then move the rest of the region to the front.
          await this.flush();
          flushed = true;
          this.buf.copyWithin(0, (from + k) * BLOCK_SIZE, (from + blocks) * BLOCK_SIZE);
          from = -k;
        }
        if (this.pending === 0) this.pendingStart = run.start;
        if (from + k !== this.pending) this.buf.copyWithin(this.pending * BLOCK_SIZE, (from + k) * BLOCK_SIZE, (from + k + run.length) * BLOCK_SIZE);
        this.pending += run.length;
        const last = extents[extents.length - 1];
        if (last !== undefined && last.logical + last.length === logical + k && last.physical + last.length === run.start) {
          last.length += run.length;
        } else {
          extents.push({ logical: logical + k, physical: run.start, length: run.length });
        }
        k += run.length;
      }
      i = j;
    }
    if (this.pending === BUFFER_BLOCKS) {
      await this.flush();
      flushed = true;
    }
    return flushed;
  }

  private isZero(block: number): boolean {
    const off = block * BLOCK_SIZE;
    return ZERO_BLOCK.compare(this.buf, off, off + BLOCK_SIZE) === 0;
  }
}
