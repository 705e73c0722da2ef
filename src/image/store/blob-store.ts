// The content-addressed blob store on disk: blobs/sha256/<hex>, each file published only after its
// bytes were streamed through sha256 and counted against the declared size. Downloads land in
// ingest/<hex>.partial, a name derived from the digest, so an interrupted ingest resumes from what
// is on disk. Concurrent ingests of one digest in this process share one download. This module
// knows nothing of images, references or refcounts (SQLite holds those); it stores bytes.
import { createHash, type Hash } from "node:crypto";
import { constants as fsConstants, promises as fs } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { WalkError, isWalkError } from "../../lib/errors.js";
import { fsyncDir, publishFile, TEMP_PREFIX } from "../../lib/atomic.js";
import { readBounded as readStreamBounded } from "../../lib/bounded.js";
import { parseDigest, sha256Digest } from "../../oci/manifest.js";

export interface BlobInfo {
  digest: string;
  size: number;
}

/** Opens the blob's content at `offset`; may start earlier (at the returned offset, usually 0). */
export type BlobOpener = (offset: number, signal: AbortSignal) => Promise<{ stream: Readable; offset: number }>;

export interface IngestOptions {
  /** Bytes on disk so far (including a resumed prefix) and the declared total. */
  onProgress?: (completed: number, total: number) => void;
  signal?: AbortSignal;
}

export interface IngestResult extends BlobInfo {
  /** The blob was already stored; nothing was downloaded. */
  existed: boolean;
  /** Bytes reused from an earlier interrupted ingest. */
  resumedFrom: number;
}

export interface StaleIngest {
  path: string;
  size: number;
}

interface Inflight {
  promise: Promise<IngestResult>;
  controller: AbortController;
  waiters: number;
  listeners: Set<(completed: number, total: number) => void>;
}

const HEX_RE = /^[a-f0-9]{64}$/;
const PARTIAL_SUFFIX = ".partial";
const HASH_CHUNK = 1 << 20;

function canceled(digest: string): WalkError {
  return new WalkError("canceled", `download of blob ${digest} was canceled`, { details: { digest } });
}

function sizeConflict(desc: BlobInfo, actual: number): WalkError {
  return new WalkError("digest_mismatch", `blob ${desc.digest} is declared as ${desc.size} bytes but the verified blob with that digest has ${actual}`, { details: { digest: desc.digest, size: desc.size, actual } });
}

function enoent(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === "ENOENT";
}

/** Feeds bytes [0, length) of an open file into `hash`. */
async function hashPrefix(fh: FileHandle, length: number, hash: Hash): Promise<void> {
  const buf = Buffer.allocUnsafe(Math.min(HASH_CHUNK, Math.max(length, 1)));
  let pos = 0;
  while (pos < length) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, length - pos), pos);
    if (bytesRead === 0) throw new WalkError("internal", `ingest file shrank while being re-read at ${pos} of ${length} bytes`);
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
}

export class BlobStore {
  readonly root: string;
  private readonly blobDir: string;
  private readonly ingestDir: string;
  private readonly inflight = new Map<string, Inflight>();
  /** Downloads ended so far; an ingest that saw none running re-checks when this moved meanwhile. */
  private settled = 0;

  private constructor(root: string) {
    this.root = root;
    this.blobDir = join(root, "blobs", "sha256");
    this.ingestDir = join(root, "ingest");
  }

  /** Opens (creating if needed) the store rooted at `root`. */
  static async open(root: string): Promise<BlobStore> {
    const store = new BlobStore(root);
    await fs.mkdir(store.blobDir, { recursive: true, mode: 0o755 });
    await fs.mkdir(store.ingestDir, { recursive: true, mode: 0o700 });
    return store;
  }

  /** Where the blob with `digest` lives (whether or not it is stored). */
  path(digest: string): string {
    return join(this.blobDir, parseDigest(digest).hex);
  }

  private partialPath(hex: string): string {
    return join(this.ingestDir, `${hex}${PARTIAL_SUFFIX}`);
  }

  async stat(digest: string): Promise<BlobInfo | undefined> {
    try {
      const st = await fs.lstat(this.path(digest));
      if (!st.isFile()) throw new WalkError("internal", `content store entry for ${digest} is not a regular file`);
      return { digest, size: st.size };
    } catch (err) {
      if (enoent(err)) return undefined;
      throw err;
    }
  }

  async has(digest: string): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  /**
   * Stores the blob `desc` names, reading it through `open`, unless it is already stored.
   * The bytes are hashed and counted while they are written: more than desc.size aborts at once
   * and discards the partial file (size_exceeded); a wrong digest discards it (digest_mismatch);
   * a stream that ends early keeps it for the next attempt and fails with unavailable, as does a
   * source error. Nothing reaches blobs/ unverified.
   */
  async ingest(desc: BlobInfo, open: BlobOpener, opts: IngestOptions = {}): Promise<IngestResult> {
    const { hex } = parseDigest(desc.digest, "blob digest");
    if (!Number.isSafeInteger(desc.size) || desc.size < 0) {
      throw new WalkError("invalid_argument", `blob ${desc.digest} has invalid size ${desc.size}`);
    }
    for (;;) {
      if (opts.signal?.aborted) throw canceled(desc.digest);
      // Joining before any await makes "a second ingest while one is in flight" deterministic.
      const running = this.inflight.get(hex);
      if (running) {
        if (!running.controller.signal.aborted) return this.join(running, desc, opts);
        // Its last waiter gave up: let it release the partial file, then start over.
        await running.promise.catch(() => undefined);
        continue;
      }
      const settledBefore = this.settled;
      const existing = await this.stat(desc.digest);
      if (existing) {
        if (existing.size !== desc.size) throw sizeConflict(desc, existing.size);
        return { digest: desc.digest, size: desc.size, existed: true, resumedFrom: 0 };
      }
      // Another ingest started, or even finished and published, while we looked: look again.
      if (this.inflight.has(hex) || this.settled !== settledBefore) continue;
      const controller = new AbortController();
      const listeners = new Set<(completed: number, total: number) => void>();
      const promise = this.download(desc, hex, open, controller.signal, (c, t) => listeners.forEach((l) => l(c, t))).finally(() => {
        this.inflight.delete(hex);
        this.settled++;
      });
      promise.catch(() => {
        // Each waiter observes the outcome through its own promise in join().
      });
      const job: Inflight = { promise, controller, waiters: 0, listeners };
      this.inflight.set(hex, job);
      return this.join(job, desc, opts);
    }
  }

  /** Waits for a shared download; the download is canceled only when every waiter has gone. */
  private join(job: Inflight, desc: BlobInfo, opts: IngestOptions): Promise<IngestResult> {
    const digest = desc.digest;
    job.waiters++;
    const listener = opts.onProgress;
    if (listener) job.listeners.add(listener);
    return new Promise<IngestResult>((resolve, reject) => {
      let done = false;
      const leave = (): void => {
        done = true;
        if (listener) job.listeners.delete(listener);
        opts.signal?.removeEventListener("abort", onAbort);
        job.waiters--;
      };
      const onAbort = (): void => {
        if (done) return;
        leave();
        if (job.waiters > 0) {
          reject(canceled(digest));
          return;
        }
        // The last waiter stops the download and waits for it to let go of its files.
        job.controller.abort();
        const settled = (): void => reject(canceled(digest));
        job.promise.then(settled, settled);
      };
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      job.promise.then(
        (r) => {
          if (done) return;
          leave();
          // Another caller's descriptor started the download; this one must agree on the size.
          if (r.size !== desc.size) reject(sizeConflict(desc, r.size));
          else resolve(r);
        },
        (err: unknown) => {
          if (done) return;
          leave();
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  private async download(desc: BlobInfo, hex: string, open: BlobOpener, signal: AbortSignal, progress: (c: number, t: number) => void): Promise<IngestResult> {
    const partial = this.partialPath(hex);
    // A resumed prefix that turns out corrupt (a crash can leave garbage past the last sync) is
    // discarded and the blob fetched once more from the start.
    for (let fromScratch = false; ; fromScratch = true) {
      const fh = await fs.open(partial, fsConstants.O_RDWR | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW, 0o644);
      let resumedFrom = 0;
      let keepPartial = true;
      try {
        let have = (await fh.stat()).size;
        if (have > desc.size || fromScratch) {
          await fh.truncate(0);
          have = 0;
        }
        // A partial file that is already complete (a crash between the last write and the
        // rename) needs no source at all, and neither does an empty blob.
        const src = have === desc.size ? undefined : await open(have, signal);
        const start = src ? src.offset : have;
        if (!Number.isSafeInteger(start) || start < 0 || start > have) {
          src?.stream.destroy();
          throw new WalkError("internal", `source opened blob ${desc.digest} at offset ${start}, past the ${have} bytes asked for`);
        }
        if (start < have) await fh.truncate(start);
        resumedFrom = start;
        const hash = createHash("sha256");
        await hashPrefix(fh, start, hash);
        progress(start, desc.size);
        let end = start;
        try {
          if (src) end = await this.copy(src.stream, fh, start, desc, hash, signal, progress);
        } catch (err) {
          if (isWalkError(err, "size_exceeded")) keepPartial = false;
          throw err;
        }
        if (end < desc.size) {
          throw new WalkError("unavailable", `blob ${desc.digest} is truncated: the source ended after ${end} of ${desc.size} bytes`, { details: { digest: desc.digest, size: desc.size, received: end, reason: "truncated" } });
        }
        const actual = `sha256:${hash.digest("hex")}`;
        if (actual !== desc.digest) {
          keepPartial = false;
          if (resumedFrom > 0 && !fromScratch) continue;
          throw new WalkError("digest_mismatch", `blob ${desc.digest} does not match its content (which hashes to ${actual}); it was discarded`, { details: { digest: desc.digest, actual } });
        }
        await fh.chmod(0o644);
        await fh.sync();
        await fh.close();
        await publishFile(partial, this.path(desc.digest));
        return { digest: desc.digest, size: desc.size, existed: false, resumedFrom };
      } finally {
        await fh.close().catch(() => undefined);
        if (!keepPartial) await fs.rm(partial, { force: true });
      }
    }
  }

  /** Appends the stream to the partial file at `pos`, hashing as it goes; returns the end offset. */
  private async copy(stream: Readable, fh: FileHandle, pos: number, desc: BlobInfo, hash: Hash, signal: AbortSignal, progress: (c: number, t: number) => void): Promise<number> {
    const onAbort = (): void => {
      stream.destroy(canceled(desc.digest));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    // The signal may have fired while the source was being opened.
    if (signal.aborted) onAbort();
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (signal.aborted) throw canceled(desc.digest);
        if (pos + chunk.length > desc.size) {
          throw new WalkError("size_exceeded", `blob ${desc.digest} is larger than the ${desc.size} bytes declared; it was discarded`, { details: { digest: desc.digest, size: desc.size } });
        }
        try {
          let off = 0;
          while (off < chunk.length) {
            const { bytesWritten } = await fh.write(chunk, off, chunk.length - off, pos + off);
            off += bytesWritten;
          }
        } catch (err) {
          throw new WalkError("internal", `could not write blob ${desc.digest} to the content store at ${this.ingestDir}: ${(err as Error).message}`, { cause: err });
        }
        hash.update(chunk);
        pos += chunk.length;
        progress(pos, desc.size);
      }
      if (signal.aborted) throw canceled(desc.digest);
      return pos;
    } catch (err) {
      if (signal.aborted) throw canceled(desc.digest);
      if (err instanceof WalkError) throw err;
      // The stream failed: a broken connection or an unreadable source file. The partial file is
      // kept, so another attempt resumes.
      throw new WalkError("unavailable", `download of blob ${desc.digest} failed after ${pos} of ${desc.size} bytes: ${(err as Error).message}`, { cause: err, details: { digest: desc.digest, received: pos, code: (err as NodeJS.ErrnoException).code } });
    } finally {
      signal.removeEventListener("abort", onAbort);
      stream.destroy();
    }
  }

  /** Stores bytes already in memory (manifests, configs) after checking them against `desc`. */
  async putBytes(desc: BlobInfo, bytes: Buffer, opts: IngestOptions = {}): Promise<IngestResult> {
    return this.ingest(desc, async () => ({ stream: Readable.from([bytes]), offset: 0 }), opts);
  }

  private async openFile(digest: string): Promise<FileHandle> {
    try {
      return await fs.open(this.path(digest), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    } catch (err) {
      if (enoent(err)) throw new WalkError("not_found", `blob ${digest} is not in the content store`, { details: { digest } });
      throw err;
    }
  }

  /** A stream of the stored blob. Its content was verified when it was stored. */
  async openRead(digest: string): Promise<Readable> {
    const fh = await this.openFile(digest);
    return fh.createReadStream();
  }

  /** Reads a stored blob of at most `limit` bytes into memory and re-verifies its digest. */
  async readBounded(digest: string, limit: number): Promise<Buffer> {
    const fh = await this.openFile(digest);
    let bytes: Buffer;
    try {
      const st = await fh.stat();
      if (st.size > limit) {
        throw new WalkError("size_exceeded", `blob ${digest} is ${st.size} bytes, larger than the limit of ${limit}`, { details: { digest, limit } });
      }
      bytes = await readStreamBounded(fh.createReadStream({ autoClose: false }), limit, `blob ${digest}`);
    } finally {
      await fh.close();
    }
    const actual = sha256Digest(bytes);
    if (actual !== digest) throw new WalkError("digest_mismatch", `stored blob ${digest} is corrupt: it hashes to ${actual}`, { details: { digest, actual } });
    return bytes;
  }

  /** Re-hashes a stored blob; throws digest_mismatch when the file on disk is corrupt. */
  async verify(digest: string): Promise<void> {
    const fh = await this.openFile(digest);
    try {
      const hash = createHash("sha256");
      await hashPrefix(fh, (await fh.stat()).size, hash);
      const actual = `sha256:${hash.digest("hex")}`;
      if (actual !== digest) throw new WalkError("digest_mismatch", `stored blob ${digest} is corrupt: it hashes to ${actual}`, { details: { digest, actual } });
    } finally {
      await fh.close();
    }
  }

  /** Removes a stored blob; false when it was not there. */
  async delete(digest: string): Promise<boolean> {
    try {
      await fs.unlink(this.path(digest));
    } catch (err) {
      if (enoent(err)) return false;
      throw err;
    }
    await fsyncDir(this.blobDir);
    return true;
  }

  /** Every stored blob with its size. */
  async list(): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    for (const name of (await fs.readdir(this.blobDir)).sort()) {
      if (!HEX_RE.test(name)) continue;
      let st;
      try {
        st = await fs.lstat(join(this.blobDir, name));
      } catch (err) {
        if (enoent(err)) continue;
        throw err;
      }
      if (st.isFile()) out.push({ digest: `sha256:${name}`, size: st.size });
    }
    return out;
  }

  /**
   * Removes leftovers no ingest is using: partial downloads last touched at least `olderThanMs`
   * ago (0: all of them, which gives up their resume) and any other file in ingest/, plus stray
   * temp files in blobs/. Returns what it removed.
   */
  async removeStaleIngests(opts: { olderThanMs?: number } = {}): Promise<StaleIngest[]> {
    const olderThanMs = opts.olderThanMs ?? 0;
    const removed: StaleIngest[] = [];
    const now = Date.now();
    for (const name of await fs.readdir(this.ingestDir)) {
      const p = join(this.ingestDir, name);
      const hex = name.endsWith(PARTIAL_SUFFIX) ? name.slice(0, -PARTIAL_SUFFIX.length) : "";
      if (HEX_RE.test(hex) && this.inflight.has(hex)) continue;
      const st = await fs.lstat(p).catch(() => undefined);
      if (!st) continue;
      if (HEX_RE.test(hex) && st.isFile() && now - st.mtimeMs < olderThanMs) continue;
      await fs.rm(p, { force: true, recursive: st.isDirectory() });
      removed.push({ path: p, size: st.size });
    }
    for (const name of await fs.readdir(this.blobDir)) {
      if (!name.startsWith(TEMP_PREFIX)) continue;
      const p = join(this.blobDir, name);
      const st = await fs.lstat(p).catch(() => undefined);
      await fs.rm(p, { force: true });
      removed.push({ path: p, size: st?.size ?? 0 });
    }
    return removed;
  }
}
