// The data area's block allocator: hands out runs of blocks for file contents while layers
// stream in, takes back the blocks of files a later layer replaced, and reuses them first.
// It knows nothing of files or inodes; the final block bitmap is derived from the finished tree.
import { WalkError } from "../../lib/errors.js";

export interface BlockRun {
  start: number;
  length: number;
}

export class BlockAllocator {
  /** First block never handed out yet; everything below it was allocated at some point. */
  private cursor: number;
  /** Released runs, sorted by start, never overlapping or touching each other. */
  private readonly free: BlockRun[] = [];

  constructor(
    readonly firstBlock: number,
    private readonly limitBlock: number,
    private readonly limitMessage: () => string,
  ) {
    this.cursor = firstBlock;
  }

  /** One past the highest block that may hold data. */
  get end(): number {
    return this.cursor;
  }

  /** A run of at most `max` blocks: the lowest released run first, else fresh blocks. */
  alloc(max: number): BlockRun {
    const head = this.free[0];
    if (head !== undefined) {
      const length = Math.min(max, head.length);
      const run = { start: head.start, length };
      if (length === head.length) this.free.shift();
      else {
        head.start += length;
        head.length -= length;
      }
      return run;
    }
    if (this.cursor + max > this.limitBlock) throw new WalkError("size_exceeded", this.limitMessage());
    const run = { start: this.cursor, length: max };
    this.cursor += max;
    return run;
  }

  /** Gives back a run handed out earlier. Releasing a block twice is a caller bug and throws. */
  release(run: BlockRun): void {
    const { start, length } = run;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(length) || length <= 0 || start < this.firstBlock || start + length > this.cursor) {
      throw new WalkError("internal", `released blocks ${start}+${length} were never allocated`);
    }
    // Index of the first free run starting after `start`.
    let lo = 0;
    let hi = this.free.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.free[mid]!.start <= start) lo = mid + 1;
      else hi = mid;
    }
    const prev = this.free[lo - 1];
    const next = this.free[lo];
    if ((prev !== undefined && prev.start + prev.length > start) || (next !== undefined && start + length > next.start)) {
      throw new WalkError("internal", `blocks ${start}+${length} were released twice`);
    }
    const joinsPrev = prev !== undefined && prev.start + prev.length === start;
    const joinsNext = next !== undefined && start + length === next.start;
    if (joinsPrev && joinsNext) {
      prev.length += length + next.length;
      this.free.splice(lo, 1);
    } else if (joinsPrev) prev.length += length;
    else if (joinsNext) {
      next.start = start;
      next.length += length;
    } else this.free.splice(lo, 0, { start, length });
    // Free space at the top of the area shrinks the area, so the disk does not carry it.
    const last = this.free[this.free.length - 1];
    if (last !== undefined && last.start + last.length === this.cursor) {
      this.cursor = last.start;
      this.free.pop();
    }
  }
}
