import { test, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { blobsOf, buildImage, buildIndex, pseudoRandomBytes, type Built, type BuiltImage } from "../../test/fixtures/images.js";
import { MemorySource } from "./pull/memory-source.js";
import { pullImage, type PullEvent } from "./pull.js";
import { BlobStore } from "./store/index.js";
import { parsePlatform } from "../oci/platform.js";
import { isWalkError } from "../lib/errors.js";
import type { Descriptor } from "../oci/types.js";

let root: string;
let store: BlobStore;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "walk-pull-"));
  store = await BlobStore.open(root);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const amd64 = parsePlatform("linux/amd64");

/** Three uncompressed layers of ~200 KB of incompressible bytes, so each spans several chunks. */
async function bigImage(seed = 1): Promise<BuiltImage> {
  return buildImage({
    layers: [1, 2, 3].map((n) => ({ compression: "none" as const, entries: [{ type: "file" as const, path: `f${n}`, content: pseudoRandomBytes(`layer-${seed}-${n}`, 200_000) }] })),
    config: { Cmd: ["/f1"] },
  });
}

function sourceOf(built: Built): MemorySource {
  return new MemorySource({ name: "memory:big", root: { digest: built.digest, mediaType: built.manifest.mediaType }, blobs: blobsOf(built), chunkSize: 16 * 1024 });
}

const stored = async (): Promise<string[]> => (await readdir(join(root, "blobs", "sha256"))).sort();
const hex = (d: string): string => d.slice(7);

void test("pull stores layers, config, manifest and index, reports progress and the blobs it references", async () => {
  const a = await bigImage();
  const b = await bigImage(2);
  const idx = buildIndex([a, { ...b, platform: { os: "linux", architecture: "arm64", variant: "v8" } }]);
  const events: PullEvent[] = [];
  const r = await pullImage({ source: sourceOf(idx), store, platform: amd64, concurrency: 2, onProgress: (e) => events.push(e) });
  assert.equal(r.image.digest, a.digest);
  assert.equal(r.image.indexDigest, idx.digest);
  const expected = [...a.layers.map((l) => l.digest), a.config.digest, a.digest, idx.digest];
  assert.deepEqual(r.blobs.map((x) => x.digest), expected);
  assert.deepEqual(r.blobs.map((x) => x.kind), ["layer", "layer", "layer", "config", "manifest", "index"]);
  assert.deepEqual(await stored(), expected.map(hex).sort());
  for (const d of expected) await store.verify(d);
  const total = a.layers.reduce((n, l) => n + l.size, 0);
  assert.deepEqual(events[0], {
    type: "resolved",
    name: "memory:big",
    digest: a.digest,
    indexDigest: idx.digest,
    platform: "linux/amd64",
    total,
    completed: 0,
    layers: a.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
  });
  assert.deepEqual(events.at(-1), { type: "done", digest: a.digest, total, completed: total });
  for (const l of a.layers) {
    const mine = events.filter((e) => e.type === "layer" && e.digest === l.digest);
    assert.deepEqual(mine.map((e) => e.type === "layer" && e.status).filter((s, i, all) => s !== all[i - 1]), ["downloading", "verifying", "done"]);
    const completed = mine.map((e) => e.completed);
    assert.deepEqual([...completed].sort((x, y) => x - y), completed, "progress only grows");
  }
  assert.equal(r.downloadedBytes, total);
});

void test("a second pull finds every blob present and downloads nothing; shared layers dedupe across images", async () => {
  const a = await bigImage();
  await pullImage({ source: sourceOf(a), store, platform: amd64 });
  const src = sourceOf(a);
  const events: PullEvent[] = [];
  const r = await pullImage({ source: src, store, platform: amd64, onProgress: (e) => events.push(e) });
  assert.deepEqual(src.opens.map((o) => o.digest), [a.config.digest], "only the config is read, to resolve");
  assert.equal(r.downloadedBytes, 0);
  assert.deepEqual(events.filter((e) => e.type === "layer").map((e) => e.type === "layer" && e.status), ["exists", "exists", "exists"]);

  const c = await buildImage({ layers: [a.layers[0]!, { entries: [{ type: "file", path: "new", content: "x" }] }] });
  const src2 = sourceOf(c);
  await pullImage({ source: src2, store, platform: amd64 });
  assert.ok(!src2.opens.some((o) => o.digest === a.layers[0]!.digest), "the shared layer was not fetched again");
});

void test("a reset mid-layer is retried and resumes from the bytes already stored", async () => {
  const a = await bigImage();
  const src = sourceOf(a);
  const layer = a.layers[1]!;
  src.faults.set(layer.digest, { kind: "reset", after: 100_000, times: 2 });
  const r = await pullImage({ source: src, store, platform: amd64, retryDelayMs: 1 });
  assert.deepEqual(src.opens.filter((o) => o.digest === layer.digest).map((o) => o.offset), [0, 100_000, 100_000]);
  await store.verify(layer.digest);
  assert.ok(r.downloadedBytes < a.layers.reduce((n, l) => n + l.size, 0));
});

void test("persistent failures give up after the retries and leave nothing half-stored", async () => {
  const a = await bigImage();
  const src = sourceOf(a);
  src.faults.set(a.layers[2]!.digest, { kind: "truncate", after: 50_000 });
  await assert.rejects(pullImage({ source: src, store, platform: amd64, retries: 2, retryDelayMs: 1 }), (err: unknown) => isWalkError(err, "unavailable") && /truncated/.test(err.message));
  assert.equal(src.opens.filter((o) => o.digest === a.layers[2]!.digest).length, 3);
  const names = await stored();
  assert.ok(!names.includes(hex(a.layers[2]!.digest)));
  assert.ok(!names.includes(hex(a.digest)), "no manifest without all its layers");
});

void test("a layer whose content does not match its digest fails the pull and is not stored", async () => {
  const a = await bigImage();
  const src = sourceOf(a);
  const bad = Buffer.from(a.layers[0]!.data);
  bad.writeUInt8(bad.readUInt8(4000) ^ 1, 4000);
  src.setBlob(a.layers[0]!.digest, bad);
  await assert.rejects(pullImage({ source: src, store, platform: amd64, retryDelayMs: 1 }), (err: unknown) => isWalkError(err, "digest_mismatch") && err.message.includes(a.layers[0]!.digest));
  assert.equal(src.opens.filter((o) => o.digest === a.layers[0]!.digest).length, 1, "a digest mismatch is not retried");
  assert.ok(!(await stored()).includes(hex(a.layers[0]!.digest)));
  assert.ok(!(await readdir(join(root, "ingest"))).includes(`${hex(a.layers[0]!.digest)}.partial`), "the bad content was discarded");
});

void test("a layer larger than declared fails the pull as size_exceeded", async () => {
  const a = await bigImage();
  const src = sourceOf(a);
  src.setBlob(a.layers[0]!.digest, Buffer.concat([a.layers[0]!.data, Buffer.alloc(10)]));
  await assert.rejects(pullImage({ source: src, store, platform: amd64 }), (err: unknown) => isWalkError(err, "size_exceeded") && err.message.includes(a.layers[0]!.digest));
  assert.ok(!(await stored()).includes(hex(a.layers[0]!.digest)));
});

void test("an interrupted pull leaves the layer out of blobs/, and the next pull resumes and verifies it", async () => {
  const a = await bigImage();
  const src = sourceOf(a);
  const layer = a.layers[0]!;
  src.faults.set(layer.digest, { kind: "stall", after: 120_000 });
  const controller = new AbortController();
  const pulling = pullImage({
    source: src,
    store,
    platform: amd64,
    concurrency: 1,
    signal: controller.signal,
    onProgress: (e) => {
      if (e.type === "layer" && e.digest === layer.digest && e.completed > 0) controller.abort();
    },
  });
  await assert.rejects(pulling, (err: unknown) => isWalkError(err, "canceled") && /memory:big was canceled/.test(err.message));
  assert.deepEqual(await stored(), [], "nothing reached blobs/");
  assert.deepEqual(await readdir(join(root, "ingest")), [`${hex(layer.digest)}.partial`]);
  const kept = (await stat(join(root, "ingest", `${hex(layer.digest)}.partial`))).size;
  assert.ok(kept > 0);

  const r = await pullImage({ source: src, store, platform: amd64 });
  const offsets = src.opens.filter((o) => o.digest === layer.digest).map((o) => o.offset);
  assert.equal(offsets.length, 2);
  assert.deepEqual(offsets, [0, kept], "the second pull resumed where the first stopped");
  assert.equal(r.image.digest, a.digest);
  for (const b of r.blobs) await store.verify(b.digest);
  assert.deepEqual(await readdir(join(root, "ingest")), []);
});

void test("bad options are refused", async () => {
  const a = await bigImage();
  await assert.rejects(pullImage({ source: sourceOf(a), store, concurrency: 0 }), (err: unknown) => isWalkError(err, "invalid_argument") && /concurrency/.test(err.message));
});

void test("errors that are not about the network are not retried", async () => {
  const a = await bigImage();
  const src = sourceOf(a);
  let opens = 0;
  const denied = Object.assign(Object.create(src) as MemorySource, {
    openBlob: async (desc: Descriptor, offset: number) => {
      if (desc.digest === a.config.digest) return src.openBlob(desc, offset);
      opens++;
      throw Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" });
    },
  });
  await assert.rejects(pullImage({ source: denied, store, platform: amd64, concurrency: 1, retryDelayMs: 1 }), /EACCES/);
  assert.equal(opens, 1, "one layer tried once, and the pull stopped");
});
