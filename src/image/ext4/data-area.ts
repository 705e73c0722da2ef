// Streams regular file contents into the disk's data area as they arrive: each byte is written
// once, in large sequential writes, and all-zero blocks are left as holes so sparse files cost
// nothing. Returns the extents the bytes landed in. Never buffers a whole file.
import type { FileHandle } from "node:fs/promises";
import { WalkError } from "../../lib/errors.js";
import type { DataExtent, FileData } from "../tree.js";
import type { BlockAllocator } from "./allocator.js";
import { BLOCK_SIZE } from "./format.js";

const CHUNK_BLOCKS = 256; // 1 MiB per write at most
const ZERO_BLOCK = Buffer.alloc(BLOCK_SIZE);
/** Logical block numbers in an extent are 32 bits. */
export const MAX_FILE_SIZE = 2 ** 32 * BLOCK_SIZE;

export class DataArea {
  private readonly buf = Buffer.allocUnsafe(CHUNK_BLOCKS * BLOCK_SIZE);
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
    try {
      let received = 0;
      let fill = 0;
      let logical = 0;
      for await (const chunk of source) {
        if (received + chunk.length > size) {
          throw new WalkError("invalid_argument", `file content is longer than its declared ${size} bytes`);
        }
        received += chunk.length;
        let off = 0;
        while (off < chunk.length) {
          const n = Math.min(chunk.length - off, this.buf.length - fill);
          this.buf.set(chunk.subarray(off, off + n), fill);
          fill += n;
          off += n;
          if (fill === this.buf.length) {
            await this.flush(CHUNK_BLOCKS, logical, extents);
            logical += CHUNK_BLOCKS;
            fill = 0;
          }
        }
      }
      if (received !== size) {
        throw new WalkError("invalid_argument", `file content ended after ${received} of its declared ${size} bytes`);
      }
      if (fill > 0) {
        const blocks = Math.ceil(fill / BLOCK_SIZE);
        this.buf.fill(0, fill, blocks * BLOCK_SIZE);
        await this.flush(blocks, logical, extents);
      }
      return { size, extents };
    } catch (err) {
      for (const e of extents) this.alloc.release({ start: e.physical, length: e.length });
      throw err;
    } finally {
      this.writing = false;
    }
  }

  /** Writes the non-zero blocks of the first `blocks` blocks of the buffer. */
  private async flush(blocks: number, logical: number, extents: DataExtent[]): Promise<void> {
    let i = 0;
    while (i < blocks) {
      if (this.isZero(i)) {
        i++;
        continue;
      }
      let j = i + 1;
      while (j < blocks && !this.isZero(j)) j++;
      // Blocks i..j-1 hold data; the allocator may hand them out in several runs.
      let k = i;
      while (k < j) {
        const run = this.alloc.alloc(j - k);
        const last = extents[extents.length - 1];
        if (last !== undefined && last.logical + last.length === logical + k && last.physical + last.length === run.start) {
          last.length += run.length;
        } else {
          extents.push({ logical: logical + k, physical: run.start, length: run.length });
        }
        await this.fh.write(this.buf, k * BLOCK_SIZE, run.length * BLOCK_SIZE, run.start * BLOCK_SIZE);
        k += run.length;
      }
      i = j;
    }
  }

  private isZero(block: number): boolean {
    const off = block * BLOCK_SIZE;
    return ZERO_BLOCK.compare(this.buf, off, off + BLOCK_SIZE) === 0;
  }
}
