// The data area's block allocator: hands out runs of blocks for file contents while layers
// stream in, takes back the blocks of files a later layer replaced, and reuses them first,
// lowest block first. Every operation is O(log runs) plus the blocks it covers, whatever order
// files are released in. It knows nothing of files or inodes; the final block bitmap is derived
// from the finished tree.
import { WalkError } from "../../lib/errors.js";

export interface BlockRun {
  start: number;
  length: number;
}

/** A min-heap of run starts. Entries may be stale (the run merged or used); callers check. */
class StartHeap {
  private readonly items: number[] = [];

  get peek(): number | undefined {
    return this.items[0];
  }

  push(v: number): void {
    const a = this.items;
    a.push(v);
    for (let i = a.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (a[parent]! <= v) break;
      a[i] = a[parent]!;
      a[parent] = v;
      i = parent;
    }
  }

  pop(): void {
    const a = this.items;
    const last = a.pop()!;
    if (a.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && a[l]! < (m === i ? last : a[m]!)) m = l;
      if (r < a.length && a[r]! < (m === i ? last : a[m]!)) m = r;
      if (m === i) break;
      a[i] = a[m]!;
      i = m;
    }
    a[i] = last;
  }
}

export class BlockAllocator {
  /** First block never handed out yet; everything below it was allocated at some point. */
  private cursor: number;
  /** Free runs below the cursor, maximal (never touching each other), by start and by end. */
  private readonly lengthAt = new Map<number, number>();
  private readonly startEndingAt = new Map<number, number>();
  private readonly starts = new StartHeap();
  /** One bit per block from firstBlock on: set while allocated. Catches double releases. */
  private used = new Uint8Array(1 << 12);

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

  /** A run of at most `max` blocks: the lowest free run first, else fresh blocks. */
  alloc(max: number): BlockRun {
    for (let s = this.starts.peek; s !== undefined; s = this.starts.peek) {
      const length = this.lengthAt.get(s);
      this.starts.pop();
      if (length === undefined) continue; // stale: merged or used since
      this.removeFree(s, length);
      const take = Math.min(max, length);
      if (take < length) this.addFree(s + take, length - take);
      this.mark(s, take, true);
      return { start: s, length: take };
    }
    if (this.cursor + max > this.limitBlock) throw new WalkError("size_exceeded", this.limitMessage());
    const run = { start: this.cursor, length: max };
    this.cursor += max;
    this.mark(run.start, max, true);
    return run;
  }

  /** Gives back a run handed out earlier. Releasing a block twice is a caller bug and throws. */
  release(run: BlockRun): void {
    let { start, length } = run;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(length) || length <= 0 || start < this.firstBlock || start + length > this.cursor) {
      throw new WalkError("internal", `released blocks ${start}+${length} were never allocated`);
    }
    this.mark(start, length, false);
    const before = this.startEndingAt.get(start);
    if (before !== undefined) {
      const l = this.lengthAt.get(before)!;
      this.removeFree(before, l);
      start = before;
      length += l;
    }
    const after = this.lengthAt.get(start + length);
    if (after !== undefined) {
      this.removeFree(start + length, after);
      length += after;
    }
    // Free space at the top of the area shrinks the area, so the disk does not carry it.
    if (start + length === this.cursor) this.cursor = start;
    else this.addFree(start, length);
  }

  private addFree(start: number, length: number): void {
    this.lengthAt.set(start, length);
    this.startEndingAt.set(start + length, start);
    this.starts.push(start);
  }

  private removeFree(start: number, length: number): void {
    this.lengthAt.delete(start);
    this.startEndingAt.delete(start + length);
  }

  /** Sets or clears the used bits of a run; clearing a bit that is clear is a double release. */
  private mark(start: number, length: number, used: boolean): void {
    const last = start + length - this.firstBlock;
    if (last > this.used.length * 8) {
      const grown = new Uint8Array(Math.max(this.used.length * 2, Math.ceil(last / 8)));
      grown.set(this.used);
      this.used = grown;
    }
    for (let b = start - this.firstBlock; b < last; b++) {
      const mask = 1 << (b & 7);
      if (!used && (this.used[b >>> 3]! & mask) === 0) {
        // Undo what this call cleared so the allocator stays consistent for the error's caller.
        for (let u = start - this.firstBlock; u < b; u++) this.used[u >>> 3]! |= 1 << (u & 7);
        throw new WalkError("internal", `blocks ${start}+${length} were released twice`);
      }
      if (used) this.used[b >>> 3]! |= mask;
      else this.used[b >>> 3]! &= ~mask;
    }
  }
}
