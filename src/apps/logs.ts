// The console output of an app's machines as one stream: one machine's as it is; several, line by
// line with the machine's name in front, one after the other, or interleaved as lines arrive when
// following. Reads what it is given; knows nothing of machines.

export interface ConsoleSource {
  /** Put in front of each line when there are several sources: `<label> | `. */
  label: string;
  lines: AsyncIterable<Buffer>;
}

export function consoles(sources: ConsoleSource[], follow: boolean): AsyncGenerator<Buffer> {
  if (sources.length === 1) return passThrough(sources[0]!.lines);
  const labelled = sources.map((s) => labelLines(`${s.label} | `, s.lines));
  return follow ? interleave(labelled) : oneAfterAnother(labelled);
}

async function* passThrough(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield* chunks;
}

/** Whole lines with `prefix` in front; a last line without its newline gets one. */
async function* labelLines(prefix: string, chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let rest = Buffer.alloc(0);
  for await (const chunk of chunks) {
    rest = Buffer.concat([rest, chunk]);
    let nl: number;
    while ((nl = rest.indexOf(0x0a)) >= 0) {
      yield Buffer.concat([Buffer.from(prefix), rest.subarray(0, nl + 1)]);
      rest = rest.subarray(nl + 1);
    }
  }
  if (rest.length > 0) yield Buffer.concat([Buffer.from(prefix), rest, Buffer.from("\n")]);
}

async function* oneAfterAnother(sources: AsyncGenerator<Buffer>[]): AsyncGenerator<Buffer> {
  for (const s of sources) yield* s;
}

/** Yields from every source as soon as it has something, until all of them end. */
async function* interleave(sources: AsyncGenerator<Buffer>[]): AsyncGenerator<Buffer> {
  const next = (i: number) => sources[i]!.next().then((r) => ({ i, r }));
  const pending = new Map(sources.map((_, i) => [i, next(i)]));
  try {
    while (pending.size > 0) {
      const { i, r } = await Promise.race(pending.values());
      if (r.done === true) {
        pending.delete(i);
        continue;
      }
      pending.set(i, next(i));
      yield r.value;
    }
  } finally {
    for (const i of pending.keys()) void sources[i]!.return(undefined);
  }
}
