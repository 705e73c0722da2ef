// Decompression of layer blobs chosen by media type: gzip (node:zlib), zstd or none. zstd runs the
// `zstd` binary (about 15x faster than fzstd, the pure-JS decoder, which remains the fallback
// when the binary is missing). Streaming only: a layer is never held in memory whole. Knows
// nothing about tar.
import { spawn, spawnSync } from "node:child_process";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { Decompress } from "fzstd";
import { WalkError } from "../../lib/errors.js";
import { layerCompression, sniffCompression, type Compression } from "../../oci/manifest.js";

export type { Compression };

/** The compression a layer media type declares; unsupported for anything that is not a tar layer. */
export const compressionOf = layerCompression;

/** Errors of the compressed source itself (a failing store read) pass through unwrapped. */
class SourceFailure extends Error {
  constructor(readonly err: unknown) {
    super("the layer's source failed");
  }
}

async function* tagged(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  try {
    yield* source;
  } catch (err) {
    throw new SourceFailure(err);
  }
}

async function* gunzip(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  // 1 MiB of output per inflate call on the thread pool: with zlib's default 16 KiB, or even
  // 64 KiB, the hand-offs between that thread and this one cost more than inflating does.
  const z = createGunzip({ chunkSize: 1 << 20 });
  const feeding = pipeline(Readable.from(tagged(source), { objectMode: false }), z);
  feeding.catch(() => {
    // The same error surfaces through the iteration of `z` below.
  });
  try {
    for await (const chunk of z) yield chunk as Buffer;
    await feeding;
  } catch (err) {
    throw corrupt("gzip", err);
  } finally {
    z.destroy();
  }
}

/** zstd in this process, with fzstd. */
export async function* unzstdInProcess(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  const out: Uint8Array[] = [];
  const d = new Decompress((chunk) => {
    if (chunk.length > 0) out.push(chunk);
  });
  try {
    for await (const chunk of tagged(source)) {
      d.push(chunk);
      while (out.length > 0) yield out.shift() as Uint8Array;
    }
    d.push(new Uint8Array(0), true);
  } catch (err) {
    throw corrupt("zstd", err);
  }
  yield* out;
}

/**
 * zstd in a `zstd -d` child. Its default memory limit (128 MiB windows) stays: a hostile frame
 * asking for more is refused rather than obeyed.
 */
export async function* unzstdProcess(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  const child = spawn("zstd", ["-d", "-c", "-q"], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString("utf8");
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve(code));
  });
  exited.catch(() => undefined);
  let feedError: unknown;
  const feeding = pipeline(Readable.from(tagged(source), { objectMode: false }), child.stdin).catch((err: unknown) => {
    feedError = err;
    child.stdout.destroy();
  });
  try {
    try {
      for await (const chunk of child.stdout) yield chunk as Buffer;
    } catch (err) {
      if (feedError === undefined) throw corrupt("zstd", err);
    }
    const code = await exited;
    await feeding;
    if (feedError instanceof SourceFailure) throw feedError.err;
    if (code !== 0) throw corrupt("zstd", new Error(stderr.trim() || `zstd exited with ${code}`));
    if (feedError !== undefined) throw corrupt("zstd", feedError);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}

let zstdBinary: boolean | undefined;

function unzstd(source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  zstdBinary ??= spawnSync("zstd", ["--version"], { stdio: "ignore" }).status === 0;
  return zstdBinary ? unzstdProcess(source) : unzstdInProcess(source);
}

function corrupt(format: string, err: unknown): unknown {
  if (err instanceof SourceFailure) return err.err;
  const why = err instanceof Error ? err.message : String(err);
  return new WalkError("invalid_argument", `the layer's ${format} stream is truncated or corrupt (${why})`, { cause: err });
}

/**
 * The uncompressed bytes of a layer blob. The stream's magic bytes decide, as in containerd and
 * Docker: `docker save` and skopeo label uncompressed tars as rootfs.diff.tar.gzip. Trusting the
 * bytes over the label costs nothing in safety: the result is checked against the diff_id.
 * `onMismatch` hears when the label was wrong.
 */
export async function* decompress(
  source: AsyncIterable<Uint8Array>,
  declared: Compression,
  onMismatch?: (actual: Compression) => void,
): AsyncGenerator<Uint8Array, void, undefined> {
  const { head, rest } = await peek(source, 4);
  const actual = head.length === 0 ? declared : sniffCompression(head);
  if (actual !== declared) onMismatch?.(actual);
  if (actual === "gzip") yield* gunzip(rest);
  else if (actual === "zstd") yield* unzstd(rest);
  else yield* rest;
}

/** Reads at least `n` bytes (or all there is) and returns them with a stream that replays them first. */
async function peek(source: AsyncIterable<Uint8Array>, n: number): Promise<{ head: Uint8Array; rest: AsyncIterable<Uint8Array> }> {
  const it = source[Symbol.asyncIterator]();
  const taken: Uint8Array[] = [];
  let have = 0;
  let done = false;
  while (have < n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    taken.push(r.value);
    have += r.value.length;
  }
  async function* rest(): AsyncGenerator<Uint8Array, void, undefined> {
    yield* taken;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  return { head: Buffer.concat(taken), rest: rest() };
}
