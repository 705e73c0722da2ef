import { test, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat, writeFile, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { createHash } from "node:crypto";
import { BlobStore, type BlobOpener } from "./index.js";
import { isWalkError, type ErrorCode } from "../../lib/errors.js";

let root: string;
let store: BlobStore;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "walk-store-"));
  store = await BlobStore.open(root);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const digestOf = (b: Buffer): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const hexOf = (d: string): string => d.slice(7);
const DATA = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 251));
const DESC = { digest: digestOf(DATA), size: DATA.length };

/** An opener over `data` that honours offsets, split in 64 KiB chunks, recording each open. */
function opener(data: Buffer, opens: number[] = [], opts: { endAt?: number; seek?: boolean } = {}): BlobOpener {
  return async (offset) => {
    const start = opts.seek === false ? 0 : offset;
    opens.push(start);
    const end = opts.endAt ?? data.length;
    const chunks: Buffer[] = [];
    for (let p = start; p < end; p += 65536) chunks.push(data.subarray(p, Math.min(end, p + 65536)));
    return { stream: Readable.from(chunks), offset: start };
  };
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isWalkError(err, code), `expected ${code}, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

const blobNames = async (): Promise<string[]> => readdir(join(root, "blobs", "sha256"));
const ingestNames = async (): Promise<string[]> => readdir(join(root, "ingest"));

void test("ingest stores a verified blob at blobs/sha256/<hex>, mode 0644, and leaves no ingest file", async () => {
  const progress: number[] = [];
  const r = await store.ingest(DESC, opener(DATA), { onProgress: (c) => progress.push(c) });
  assert.deepEqual(r, { digest: DESC.digest, size: DESC.size, existed: false, resumedFrom: 0 });
  const p = store.path(DESC.digest);
  assert.equal(p, join(root, "blobs", "sha256", hexOf(DESC.digest)));
  assert.deepEqual(await readFile(p), DATA);
  assert.equal((await stat(p)).mode & 0o777, 0o644);
  assert.deepEqual(await ingestNames(), []);
  assert.equal(progress.at(-1), DATA.length);
  assert.ok(await store.has(DESC.digest));
  assert.deepEqual(await store.stat(DESC.digest), DESC);
  assert.deepEqual(await store.list(), [DESC]);
  assert.deepEqual(await store.readBounded(DESC.digest, DATA.length), DATA);
  const again = await store.ingest(DESC, () => Promise.reject(new Error("must not be opened")));
  assert.equal(again.existed, true);
});

void test("a blob larger than declared aborts as soon as it passes the size and is discarded", async () => {
  const small = { digest: DESC.digest, size: 100_000 };
  let pulled = 0;
  const endless: BlobOpener = async () => ({
    stream: new Readable({
      read() {
        pulled++;
        this.push(Buffer.alloc(65536, 1));
      },
    }),
    offset: 0,
  });
  await rejectsWith(store.ingest(small, endless), "size_exceeded", new RegExp(`blob ${DESC.digest} is larger than the 100000 bytes declared`));
  assert.ok(pulled < 10, `read ${pulled} chunks of an endless stream`);
  assert.deepEqual(await blobNames(), []);
  assert.deepEqual(await ingestNames(), []);
});

void test("content that does not hash to the digest is a digest_mismatch and is discarded", async () => {
  const other = Buffer.from(DATA);
  other.writeUInt8(other.readUInt8(1000) ^ 0xff, 1000);
  await rejectsWith(store.ingest(DESC, opener(other)), "digest_mismatch", new RegExp(`blob ${DESC.digest} does not match its content \\(which hashes to ${digestOf(other)}\\)`));
  assert.deepEqual(await blobNames(), []);
  assert.deepEqual(await ingestNames(), []);
  assert.equal(await store.has(DESC.digest), false);
});

void test("a truncated stream keeps its partial file; the next ingest resumes from its length", async () => {
  const opens: number[] = [];
  await rejectsWith(store.ingest(DESC, opener(DATA, opens, { endAt: 200_000 })), "unavailable", /truncated: the source ended after 200000 of 300000 bytes/);
  assert.deepEqual(await blobNames(), []);
  assert.deepEqual(await ingestNames(), [`${hexOf(DESC.digest)}.partial`]);
  const r = await store.ingest(DESC, opener(DATA, opens));
  assert.equal(r.resumedFrom, 200_000);
  assert.deepEqual(opens, [0, 200_000]);
  assert.deepEqual(await readFile(store.path(DESC.digest)), DATA);
  assert.deepEqual(await ingestNames(), []);
});

void test("a source that cannot seek restarts from 0 and the stale prefix is rewritten", async () => {
  await writeFile(join(root, "ingest", `${hexOf(DESC.digest)}.partial`), DATA.subarray(0, 1000));
  const opens: number[] = [];
  const r = await store.ingest(DESC, opener(DATA, opens, { seek: false }));
  assert.deepEqual(opens, [0]);
  assert.equal(r.resumedFrom, 0);
  assert.deepEqual(await readFile(store.path(DESC.digest)), DATA);
});

void test("a corrupt resumed prefix is discarded and the blob fetched again from the start", async () => {
  await writeFile(join(root, "ingest", `${hexOf(DESC.digest)}.partial`), Buffer.alloc(5000, 0xee));
  const opens: number[] = [];
  const r = await store.ingest(DESC, opener(DATA, opens));
  assert.deepEqual(opens, [5000, 0]);
  assert.equal(r.resumedFrom, 0);
  assert.deepEqual(await readFile(store.path(DESC.digest)), DATA);
});

void test("a partial file longer than the declared size is thrown away before resuming", async () => {
  await writeFile(join(root, "ingest", `${hexOf(DESC.digest)}.partial`), Buffer.concat([DATA, Buffer.from("junk")]));
  const opens: number[] = [];
  await store.ingest(DESC, opener(DATA, opens));
  assert.deepEqual(opens, [0]);
});

void test("concurrent ingests of one digest share one download", async () => {
  const opens: number[] = [];
  const [a, b] = await Promise.all([store.ingest(DESC, opener(DATA, opens)), store.ingest(DESC, opener(DATA, opens))]);
  assert.deepEqual(opens, [0]);
  assert.equal(a.existed, false);
  assert.deepEqual(a, b);
});

void test("aborting one of two waiters keeps the shared download going; aborting all cancels it", async () => {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const slow: BlobOpener = async (_offset, signal) => {
    const stream = new Readable({ read() {} });
    stream.push(DATA.subarray(0, 1000));
    void gate.then(() => {
      if (!signal.aborted) {
        stream.push(DATA.subarray(1000));
        stream.push(null);
      }
    });
    return { stream, offset: 0 };
  };
  const c1 = new AbortController();
  let started: () => void = () => undefined;
  const firstBytes = new Promise<void>((r) => (started = r));
  const first = store.ingest(DESC, slow, { signal: c1.signal, onProgress: (c) => c === 1000 && started() });
  await firstBytes;
  const opens: number[] = [];
  const second = store.ingest(DESC, opener(DATA, opens));
  c1.abort();
  await rejectsWith(first, "canceled", /canceled/);
  release();
  assert.equal((await second).existed, false);
  assert.deepEqual(opens, [], "the second waiter joined the first download");
  assert.deepEqual(await readFile(store.path(DESC.digest)), DATA);

  const d2 = Buffer.from("another blob");
  const desc2 = { digest: digestOf(d2), size: d2.length };
  const c2 = new AbortController();
  const stalled: BlobOpener = async () => ({ stream: new Readable({ read() {} }), offset: 0 });
  const p = store.ingest(desc2, stalled, { signal: c2.signal });
  setTimeout(() => c2.abort(), 5);
  await rejectsWith(p, "canceled", new RegExp(`download of blob ${desc2.digest} was canceled`));
  assert.equal(await store.has(desc2.digest), false);
});

void test("putBytes verifies in-memory content against the descriptor", async () => {
  const b = Buffer.from('{"schemaVersion":2}');
  await rejectsWith(store.putBytes({ digest: digestOf(b), size: b.length - 1 }, b), "size_exceeded", /larger than the 18 bytes declared/);
  await rejectsWith(store.putBytes({ digest: digestOf(Buffer.from("x")), size: b.length }, b), "digest_mismatch", /does not match/);
  assert.deepEqual(await blobNames(), []);
  const r = await store.putBytes({ digest: digestOf(b), size: b.length }, b);
  assert.equal(r.existed, false);
  assert.deepEqual(await store.readBounded(r.digest, 100), b);
});

void test("a descriptor whose size disagrees with the stored blob of that digest is refused", async () => {
  await store.ingest(DESC, opener(DATA));
  await rejectsWith(store.ingest({ digest: DESC.digest, size: 10 }, opener(DATA)), "digest_mismatch", /declared as 10 bytes but the verified blob with that digest has 300000/);
});

void test("invalid digests and sizes are refused before anything is written", async () => {
  await rejectsWith(store.ingest({ digest: "sha256:../../etc", size: 1 }, opener(DATA)), "invalid_argument", /not a valid/);
  await rejectsWith(store.ingest({ digest: `md5:${"a".repeat(32)}`, size: 1 }, opener(DATA)), "unsupported", /only sha256/);
  await rejectsWith(store.ingest({ digest: DESC.digest, size: -1 }, opener(DATA)), "invalid_argument", /invalid size -1/);
  assert.throws(() => store.path("sha256:/etc/passwd"), /not a valid/);
  assert.deepEqual(await ingestNames(), []);
});

void test("reads: missing blobs are not_found, bounded reads refuse big blobs, corruption is detected", async () => {
  await rejectsWith(store.openRead(DESC.digest), "not_found", new RegExp(`blob ${DESC.digest} is not in the content store`));
  await store.ingest(DESC, opener(DATA));
  await rejectsWith(store.readBounded(DESC.digest, 1000), "size_exceeded", /larger than the limit of 1000/);
  const chunks: Buffer[] = [];
  for await (const c of await store.openRead(DESC.digest)) chunks.push(c as Buffer);
  assert.deepEqual(Buffer.concat(chunks), DATA);
  await store.verify(DESC.digest);
  const corrupt = Buffer.from(DATA);
  corrupt.writeUInt8(corrupt.readUInt8(5) ^ 1, 5);
  await writeFile(store.path(DESC.digest), corrupt);
  await rejectsWith(store.verify(DESC.digest), "digest_mismatch", /is corrupt/);
  await rejectsWith(store.readBounded(DESC.digest, DATA.length), "digest_mismatch", /is corrupt/);
  assert.equal(await store.delete(DESC.digest), true);
  assert.equal(await store.delete(DESC.digest), false);
  assert.deepEqual(await store.list(), []);
});

void test("removeStaleIngests removes old partials and strays but keeps recent partials when asked", async () => {
  const fresh = join(root, "ingest", `${"b".repeat(64)}.partial`);
  const old = join(root, "ingest", `${"c".repeat(64)}.partial`);
  const stray = join(root, "ingest", "something-else");
  const tmp = join(root, "blobs", "sha256", ".walk-tmp-x");
  for (const p of [fresh, old, stray, tmp]) await writeFile(p, "x");
  await utimes(old, new Date(Date.now() - 2 * 86400_000), new Date(Date.now() - 2 * 86400_000));
  const removed = await store.removeStaleIngests({ olderThanMs: 86400_000 });
  assert.deepEqual(removed.map((r) => r.path).sort(), [old, stray, tmp].sort());
  assert.deepEqual(await ingestNames(), [`${"b".repeat(64)}.partial`]);
  await store.removeStaleIngests();
  assert.deepEqual(await ingestNames(), []);
});

void test("a source stream that fails mid-blob is unavailable, names the blob and keeps the partial file", async () => {
  const failing: BlobOpener = async () => {
    let sent = false;
    return {
      stream: new Readable({
        read() {
          if (!sent) {
            sent = true;
            this.push(DATA.subarray(0, 70_000));
          } else this.destroy(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
        },
      }),
      offset: 0,
    };
  };
  await rejectsWith(store.ingest(DESC, failing), "unavailable", new RegExp(`download of blob ${DESC.digest} failed after 70000 of 300000 bytes: read ECONNRESET`));
  assert.deepEqual(await ingestNames(), [`${hexOf(DESC.digest)}.partial`]);
  assert.deepEqual(await blobNames(), []);
});

void test("a complete partial file is verified and published without asking the source; a wrong one is refetched", async () => {
  const partial = join(root, "ingest", `${hexOf(DESC.digest)}.partial`);
  await writeFile(partial, DATA);
  const opens: number[] = [];
  const r = await store.ingest(DESC, opener(DATA, opens));
  assert.deepEqual(opens, []);
  assert.equal(r.resumedFrom, DATA.length);
  await store.delete(DESC.digest);
  const wrong = Buffer.from(DATA);
  wrong.writeUInt8(wrong.readUInt8(0) ^ 1, 0);
  await writeFile(partial, wrong);
  await store.ingest(DESC, opener(DATA, opens));
  assert.deepEqual(opens, [0]);
  await store.verify(DESC.digest);
  const empty = Buffer.alloc(0);
  const e = await store.ingest({ digest: digestOf(empty), size: 0 }, () => Promise.reject(new Error("an empty blob needs no source")));
  assert.equal(e.size, 0);
  assert.deepEqual(await readFile(store.path(e.digest)), empty);
});

void test("a waiter whose descriptor disagrees on the size with the shared download is refused", async () => {
  // `a` is in flight (its source opened, its stream held) before `b` arrives, so `b` joins `a`'s download.
  let opened: () => void = () => undefined;
  const isOpen = new Promise<void>((r) => (opened = r));
  const gate = new Readable({ read() {} });
  const held: BlobOpener = async () => {
    opened();
    return { stream: gate, offset: 0 };
  };
  const a = store.ingest(DESC, held);
  await isOpen;
  const b = store.ingest({ digest: DESC.digest, size: 1234 }, opener(DATA));
  gate.push(DATA);
  gate.push(null);
  const [ra, rb] = await Promise.allSettled([a, b]);
  assert.equal(ra.status, "fulfilled");
  assert.ok(rb.status === "rejected" && isWalkError(rb.reason, "digest_mismatch") && /declared as 1234 bytes/.test((rb.reason as Error).message));
});

void test("an ingest arriving after the last waiter canceled starts a fresh download", async () => {
  const c = new AbortController();
  let opened: () => void = () => undefined;
  const isOpen = new Promise<void>((r) => (opened = r));
  const stalled: BlobOpener = async () => {
    opened();
    return { stream: new Readable({ read() {} }), offset: 0 };
  };
  const first = store.ingest(DESC, stalled, { signal: c.signal });
  await isOpen;
  c.abort();
  const opens: number[] = [];
  const second = store.ingest(DESC, opener(DATA, opens));
  await rejectsWith(first, "canceled", /canceled/);
  assert.equal((await second).existed, false);
  assert.deepEqual(opens, [0]);
});
