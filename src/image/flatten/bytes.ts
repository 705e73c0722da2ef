// A pull-based reader over a stream of byte chunks: exact-length reads for headers and bounded
// chunk runs for file bodies, without copying unless a read spans chunks. A stream that ends in
// the middle of a read is a truncated layer.
//
// Tar layers hold tens of thousands of small entries, so the reader is built for the common case
// of bytes already in hand: take() and skipBuffered() answer without awaiting, and a file body is
// a plain iterator rather than an async generator. Descriptions for errors are functions, so no
// message is built unless it is needed.
import { WalkError } from "../../lib/errors.js";

const EMPTY = Buffer.alloc(0);
const DONE: Promise<IteratorResult<Buffer, undefined>> = Promise.resolve({ done: true, value: undefined });

export type Describe = () => string;

export class ByteReader {
  private readonly it: AsyncIterator<Uint8Array>;
  private chunk: Buffer = EMPTY;
  /** Bytes of `chunk` already consumed. */
  private pos = 0;
  private ended = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  /** Makes at least one byte available; false at the end of the stream. */
  async fill(): Promise<boolean> {
    while (this.pos === this.chunk.length) {
      if (this.ended) return false;
      const r = await this.it.next();
      if (r.done === true) {
        this.ended = true;
        this.chunk = EMPTY;
        this.pos = 0;
        return false;
      }
      this.chunk = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
      this.pos = 0;
    }
    return true;
  }

  /** Exactly `n` bytes if they are already in hand, else undefined (and nothing is consumed). */
  take(n: number): Buffer | undefined {
    if (this.chunk.length - this.pos < n) return undefined;
    const out = this.chunk.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Up to `max` (> 0) of the bytes in hand; undefined when none are. */
  takeUpTo(max: number): Buffer | undefined {
    const have = this.chunk.length - this.pos;
    if (have === 0) return undefined;
    return this.take(Math.min(have, max));
  }

  /** Exactly `n` bytes; null when the stream ends before the first byte, an error if it ends later. */
  async readExact(n: number, what: Describe): Promise<Buffer | null> {
    if (!(await this.fill())) return null;
    const fast = this.take(n);
    if (fast !== undefined) return fast;
    const out = Buffer.allocUnsafe(n);
    let have = 0;
    while (have < n) {
      if (!(await this.fill())) throw truncated(what);
      const take = Math.min(n - have, this.chunk.length - this.pos);
      this.chunk.copy(out, have, this.pos, this.pos + take);
      this.pos += take;
      have += take;
    }
    return out;
  }

  /** Exactly `n` bytes in the chunks they arrive in; an error if the stream ends first. */
  body(n: number, what: Describe): Body {
    return new Body(this, n, what);
  }

  /** Skips what it can of `n` bytes without awaiting; returns how many are left to skip. */
  skipBuffered(n: number): number {
    const k = Math.min(n, this.chunk.length - this.pos);
    this.pos += k;
    return n - k;
  }

  async skip(n: number, what: Describe): Promise<void> {
    // Discarded: the bytes only need to pass through (the layer digest covers them).
    for (let left = this.skipBuffered(n); left > 0; left = this.skipBuffered(left)) {
      if (!(await this.fill())) throw truncated(what);
    }
  }

  /** Reads and discards everything up to the end of the stream. */
  async drain(): Promise<void> {
    this.pos = this.chunk.length;
    while (await this.fill()) this.pos = this.chunk.length;
  }
}

/** A body of a known length: yields buffered bytes without awaiting anything. */
export class Body implements AsyncIterableIterator<Buffer> {
  constructor(
    private readonly r: ByteReader,
    private left: number,
    private readonly what: Describe,
  ) {}

  /** Bytes not yielded yet. */
  get remaining(): number {
    return this.left;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Buffer, undefined>> {
    if (this.left === 0) return DONE;
    const b = this.r.takeUpTo(this.left);
    if (b === undefined) return this.refill();
    this.left -= b.length;
    return Promise.resolve({ done: false, value: b });
  }

  private async refill(): Promise<IteratorResult<Buffer, undefined>> {
    if (!(await this.r.fill())) throw truncated(this.what);
    return this.next();
  }
}

function truncated(what: Describe): WalkError {
  return new WalkError("invalid_argument", `the layer is truncated: it ends inside ${what()}`);
}
