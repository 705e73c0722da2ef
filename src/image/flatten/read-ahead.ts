// Read-ahead between decompression and the tar reader: pulls up to a byte budget from the source
// while the consumer is busy (awaiting a file's disk writes), so zlib keeps inflating on the
// thread pool instead of waiting. Bounded: never more than `budget` bytes are held.

/** Yields what `source` yields, pulling ahead of the consumer by at most `budget` bytes. */
export async function* readAhead(source: AsyncIterable<Uint8Array>, budget: number): AsyncGenerator<Uint8Array, void, undefined> {
  const it = source[Symbol.asyncIterator]();
  const queue: Uint8Array[] = [];
  let held = 0;
  let done = false;
  let failure: { err: unknown } | undefined;
  let wakeConsumer: (() => void) | undefined;
  let wakeProducer: (() => void) | undefined;
  let stopped = false;

  const pump = async (): Promise<void> => {
    try {
      while (!stopped) {
        if (held >= budget) {
          await new Promise<void>((resolve) => (wakeProducer = resolve));
          continue;
        }
        const r = await it.next();
        if (r.done === true) break;
        queue.push(r.value);
        held += r.value.length;
        wakeConsumer?.();
      }
    } catch (err) {
      failure = { err };
    } finally {
      done = true;
      wakeConsumer?.();
    }
  };
  const pumping = pump();

  try {
    for (;;) {
      const chunk = queue.shift();
      if (chunk !== undefined) {
        held -= chunk.length;
        wakeProducer?.();
        yield chunk;
        continue;
      }
      if (failure) throw failure.err;
      if (done) return;
      await new Promise<void>((resolve) => (wakeConsumer = resolve));
      wakeConsumer = undefined;
    }
  } finally {
    // Early exit (an error downstream): stop pulling and close the source once its pending read
    // settles, without waiting for it here (a stalled source must not hang the caller).
    stopped = true;
    wakeProducer?.();
    void pumping.then(() => it.return?.()).catch(() => undefined);
  }
}
