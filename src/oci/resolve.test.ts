import { test } from "node:test";
import assert from "node:assert/strict";
import { blobsOf, buildIndex, buildSampleImage, jsonBlob, MediaTypes, sha256, type Built } from "../../test/fixtures/images.js";
import { MemorySource } from "../image/pull/memory-source.js";
import { resolveImage } from "./resolve.js";
import { parsePlatform } from "./platform.js";
import { isWalkError, type ErrorCode } from "../lib/errors.js";

const amd64 = parsePlatform("linux/amd64");
const arm64 = parsePlatform("linux/arm64");

function sourceOf(built: Built): MemorySource {
  return new MemorySource({ name: "memory:img", root: { digest: built.digest, mediaType: built.manifest.mediaType }, blobs: blobsOf(built) });
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isWalkError(err, code), `expected ${code}, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

void test("a single manifest resolves to itself, with its config and layers", async () => {
  const img = await buildSampleImage();
  const r = await resolveImage(sourceOf(img), amd64);
  assert.equal(r.digest, img.digest);
  assert.equal(r.indexDigest, undefined);
  assert.deepEqual(r.manifest.bytes, img.manifest.data);
  assert.deepEqual(r.config.bytes, img.config.data);
  assert.deepEqual(r.config.parsed.config?.Cmd, ["--serve"]);
  assert.deepEqual(r.layers.map((l) => l.digest), img.layers.map((l) => l.digest));
  assert.deepEqual(r.platform, amd64);
});

void test("an index resolves to the platform's manifest; the image digest is the manifest's, the index's kept", async () => {
  const a = await buildSampleImage();
  const b = await buildSampleImage({ platform: { os: "linux", architecture: "arm64", variant: "v8" }, config: { Cmd: ["arm"] } });
  const idx = buildIndex([a, b]);
  const r = await resolveImage(sourceOf(idx), arm64);
  assert.equal(r.digest, b.digest);
  assert.equal(r.indexDigest, idx.digest);
  assert.deepEqual(r.index?.bytes, idx.manifest.data);
  assert.deepEqual(r.config.parsed.config?.Cmd, ["arm"]);
  assert.equal((await resolveImage(sourceOf(idx), amd64)).digest, a.digest);
});

void test("an index without the platform lists the platforms it has", async () => {
  const a = await buildSampleImage();
  const b = await buildSampleImage({ platform: { os: "linux", architecture: "arm64", variant: "v8" } });
  await rejectsWith(resolveImage(sourceOf(buildIndex([a, b])), parsePlatform("linux/riscv64")), "not_found", /memory:img has no image for platform linux\/riscv64; available: linux\/amd64, linux\/arm64\/v8/);
});

void test("a lone manifest for another platform is unsupported and says which it is", async () => {
  const img = await buildSampleImage({ platform: { os: "linux", architecture: "arm64" } });
  await rejectsWith(resolveImage(sourceOf(img), amd64), "unsupported", /is an image for linux\/arm64\/v8, not for the requested platform linux\/amd64/);
});

void test("a child manifest whose bytes do not match the index's digest is a digest_mismatch", async () => {
  const a = await buildSampleImage();
  const idx = buildIndex([a]);
  const src = sourceOf(idx);
  const cfgHex = a.config.digest.slice(7);
  const flipped = cfgHex.slice(0, -1) + (cfgHex.endsWith("0") ? "1" : "0");
  const tampered = Buffer.from(a.manifest.data.toString().replace(cfgHex, flipped));
  assert.equal(tampered.length, a.manifest.data.length);
  src.setBlob(a.digest, tampered);
  await rejectsWith(resolveImage(src, amd64), "digest_mismatch", new RegExp(`linux/amd64 manifest of memory:img ${a.digest} does not match`));
});

void test("a root manifest that does not hash to the digest the source reported is refused", async () => {
  const img = await buildSampleImage();
  const src = sourceOf(img);
  src.setBlob(img.digest, Buffer.concat([img.manifest.data, Buffer.from(" ")]));
  await rejectsWith(resolveImage(src, amd64), "digest_mismatch", /manifest of memory:img/);
});

void test("a tampered, oversized or truncated config is refused", async () => {
  const img = await buildSampleImage();
  const src = sourceOf(img);
  src.setBlob(img.config.digest, Buffer.from(img.config.data.toString().replace("WALK=1", "WALK=2")));
  await rejectsWith(resolveImage(src, amd64), "digest_mismatch", new RegExp(`image config of memory:img ${img.config.digest} does not match`));
  src.setBlob(img.config.digest, Buffer.concat([img.config.data, Buffer.from("x")]));
  await rejectsWith(resolveImage(src, amd64), "size_exceeded", /image config .* is larger than the limit of \d+ bytes/);
  src.setBlob(img.config.digest, img.config.data.subarray(0, 10));
  await rejectsWith(resolveImage(src, amd64), "digest_mismatch", /truncated: 10 of/);
});

void test("a config declared larger than the config bound is refused before it is fetched", async () => {
  const img = await buildSampleImage();
  const manifest = jsonBlob(MediaTypes.ociManifest, { ...img.manifestJson, config: { ...img.manifestJson.config, size: 64 * 1024 * 1024 } });
  const src = new MemorySource({ root: { digest: manifest.digest, mediaType: manifest.mediaType }, blobs: [manifest, img.config] });
  await rejectsWith(resolveImage(src, amd64), "size_exceeded", /declares 67108864 bytes/);
  assert.equal(src.opens.length, 0);
});

void test("a config whose diff_ids do not match the layers is invalid", async () => {
  const img = await buildSampleImage();
  const config = jsonBlob(MediaTypes.ociConfig, { ...img.configJson, rootfs: { type: "layers", diff_ids: [sha256("x")] } });
  const manifest = jsonBlob(MediaTypes.ociManifest, { ...img.manifestJson, config: { mediaType: config.mediaType, digest: config.digest, size: config.size } });
  const src = new MemorySource({ root: { digest: manifest.digest, mediaType: manifest.mediaType }, blobs: [manifest, config] });
  await rejectsWith(resolveImage(src, amd64), "invalid_argument", /lists 1 rootfs.diff_ids but the manifest has 2 layers/);
});

void test("a root manifest over the size bound is refused even when the source hands it over", async () => {
  const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
  const src = new MemorySource({ root: { digest: sha256(big), mediaType: MediaTypes.ociManifest }, blobs: [{ digest: sha256(big), data: big }] });
  await rejectsWith(resolveImage(src, amd64), "size_exceeded", /manifest of memory:test is 4194305 bytes, larger than the limit of 4194304/);
  assert.equal(src.opens.length, 0);
});
