// A pull-based reader over a stream of byte chunks: exact-length reads for headers and bounded
// chunk runs for file bodies, without copying unless a read spans chunks. A stream that ends in
// the middle of a read is a truncated layer.
import { WalkError } from "../../lib/errors.js";

const EMPTY = Buffer.alloc(0);

export class ByteReader {
  private readonly it: AsyncIterator<Uint8Array>;
  private chunk: Buffer = EMPTY;
  private ended = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  /** Makes `this.chunk` non-empty; false at the end of the stream. */
  private async fill(): Promise<boolean> {
    while (this.chunk.length === 0) {
      if (this.ended) return false;
      const r = await this.it.next();
      if (r.done === true) {
        this.ended = true;
        return false;
      }
      this.chunk = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    }
    return true;
  }

  /** Exactly `n` bytes; null when the stream ends before the first byte, an error if it ends later. */
  async readExact(n: number, what: string): Promise<Buffer | null> {
    if (!(await this.fill())) return null;
    if (this.chunk.length >= n) {
      const out = this.chunk.subarray(0, n);
      this.chunk = this.chunk.subarray(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let have = 0;
    while (have < n) {
      if (!(await this.fill())) throw truncated(what);
      const take = Math.min(n - have, this.chunk.length);
      this.chunk.copy(out, have, 0, take);
      this.chunk = this.chunk.subarray(take);
      have += take;
    }
    return out;
  }

  /** Yields exactly `n` bytes in the chunks they arrive in; an error if the stream ends first. */
  async *chunks(n: number, what: string): AsyncGenerator<Buffer, void, undefined> {
    let left = n;
    while (left > 0) {
      if (!(await this.fill())) throw truncated(what);
      const take = Math.min(left, this.chunk.length);
      const out = this.chunk.subarray(0, take);
      this.chunk = this.chunk.subarray(take);
      left -= take;
      yield out;
    }
  }

  async skip(n: number, what: string): Promise<void> {
    for await (const _ of this.chunks(n, what)) {
      // discarded: the bytes only need to pass through (the layer digest covers them)
    }
  }

  /** Reads and discards everything up to the end of the stream. */
  async drain(): Promise<void> {
    this.chunk = EMPTY;
    while (await this.fill()) this.chunk = EMPTY;
  }
}

function truncated(what: string): WalkError {
  return new WalkError("invalid_argument", `the layer is truncated: it ends inside ${what}`);
}
