import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile, rename } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildIndex, buildSampleImage, writeOciLayout, type BuiltImage } from "../../test/fixtures/images.js";
import { openOciLayout } from "./layout.js";
import { resolveImage } from "./resolve.js";
import { parsePlatform } from "./platform.js";
import { pullImage } from "../image/pull.js";
import { BlobStore } from "../image/store/index.js";
import { execChecked } from "../lib/exec.js";
import { isWalkError, type ErrorCode } from "../lib/errors.js";

let dir: string;
let img: BuiltImage;
let other: BuiltImage;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "walk-layout-"));
  img = await buildSampleImage();
  other = await buildSampleImage({ config: { Cmd: ["other"] } });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const amd64 = parsePlatform("linux/amd64");
let n = 0;
const fresh = (): string => join(dir, `l${n++}`);

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isWalkError(err, code), `expected ${code}, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

const blob = (layout: string, digest: string): string => join(layout, "blobs", "sha256", digest.slice(7));

void test("a tag selects by ref.name; a lone untagged image needs no tag", async () => {
  const p = fresh();
  await writeOciLayout(p, [{ image: img, tag: "v1" }, { image: other, tag: "v2" }]);
  const s = await openOciLayout(p, "v2");
  assert.equal(s.name, `oci:${p}:v2`);
  assert.equal((await resolveImage(s, amd64)).digest, other.digest);
  const q = fresh();
  await writeOciLayout(q, [{ image: img }]);
  assert.equal((await resolveImage(await openOciLayout(q), amd64)).digest, img.digest);
});

void test("a missing tag is not_found and an ambiguous layout lists its tags", async () => {
  const p = fresh();
  await writeOciLayout(p, [{ image: img, tag: "v1" }, { image: other, tag: "v2" }]);
  await rejectsWith(openOciLayout(p, "v3"), "not_found", new RegExp(`oci:${p} has no image named "v3"; it has: v1, v2`));
  await rejectsWith(openOciLayout(p), "invalid_argument", new RegExp(`oci:${p} holds 2 images; name one; it has: v1, v2`));
});

void test("what is not a layout, or a layout of another version, is refused clearly", async () => {
  await rejectsWith(openOciLayout(join(dir, "nope")), "not_found", /does not exist/);
  const p = fresh();
  await mkdir(p);
  await rejectsWith(openOciLayout(p), "invalid_argument", /is not an OCI image layout: it has no oci-layout file/);
  await writeFile(join(p, "oci-layout"), JSON.stringify({ imageLayoutVersion: "2.0.0" }));
  await rejectsWith(openOciLayout(p), "unsupported", /layout version "2.0.0"/);
  await writeFile(join(p, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await rejectsWith(openOciLayout(p), "invalid_argument", /has no index.json/);
  await writeFile(join(p, "index.json"), Buffer.alloc(5 * 1024 * 1024, 0x20));
  await rejectsWith(openOciLayout(p), "size_exceeded", /index.json in oci:.* is larger than the limit/);
});

void test("symlinked blobs and blob directories are not followed", async () => {
  const p = fresh();
  await writeOciLayout(p, [{ image: img, tag: "v1" }]);
  const target = blob(p, img.digest);
  await rename(target, join(p, "elsewhere"));
  await symlink(join(p, "elsewhere"), target);
  const s = await openOciLayout(p, "v1");
  await rejectsWith(s.getRootManifest(), "invalid_argument", /is a symlink; walk does not follow symlinks/);

  const q = fresh();
  await writeOciLayout(q, [{ image: img, tag: "v1" }]);
  await rename(join(q, "blobs", "sha256"), join(q, "real"));
  await symlink(join(q, "real"), join(q, "blobs", "sha256"));
  await rejectsWith(openOciLayout(q, "v1"), "invalid_argument", /blobs\/sha256 is not a directory \(symlinks are not followed\)/);
});

void test("tampered, truncated and oversized blobs are refused and nothing is stored", async () => {
  const p = fresh();
  await writeOciLayout(p, [{ image: img, tag: "v1" }]);
  const store = await BlobStore.open(join(p, "..", `store-${n}`));
  const layer = img.layers[0]!;
  const original = await readFile(blob(p, layer.digest));
  await writeFile(blob(p, layer.digest), original.subarray(0, original.length - 1));
  await rejectsWith(pullImage({ source: await openOciLayout(p, "v1"), store, platform: amd64 }), "digest_mismatch", new RegExp(`blob ${layer.digest} in oci:.* is truncated`));
  await writeFile(blob(p, layer.digest), Buffer.concat([original, Buffer.from("x")]));
  await rejectsWith(pullImage({ source: await openOciLayout(p, "v1"), store, platform: amd64 }), "size_exceeded", /larger than the \d+ declared/);
  const flipped = Buffer.from(original);
  flipped.writeUInt8(flipped.readUInt8(100) ^ 1, 100);
  await writeFile(blob(p, layer.digest), flipped);
  await rejectsWith(pullImage({ source: await openOciLayout(p, "v1"), store, platform: amd64, retryDelayMs: 1 }), "digest_mismatch", new RegExp(`blob ${layer.digest} does not match`));
  assert.equal(await store.has(layer.digest), false);
  assert.equal(await store.has(img.digest), false);
  const m = await readFile(blob(p, img.digest));
  await writeFile(blob(p, img.digest), Buffer.from(m.toString().replace("schemaVersion", "schemaversion")));
  await rejectsWith(resolveImage(await openOciLayout(p, "v1"), amd64), "digest_mismatch", /manifest of oci:.* does not match/);
});

void test("pulling a two-platform layout matches what skopeo copies", async () => {
  const arm = await buildSampleImage({ platform: { os: "linux", architecture: "arm64", variant: "v8" }, config: { Cmd: ["arm"] } });
  const idx = buildIndex([img, arm]);
  const p = fresh();
  await writeOciLayout(p, [{ image: idx, tag: "multi" }]);
  const store = await BlobStore.open(fresh());
  const r = await pullImage({ source: await openOciLayout(p, "multi"), store, platform: parsePlatform("linux/arm64") });
  assert.equal(r.image.digest, arm.digest);
  assert.equal(r.image.indexDigest, idx.digest);

  const out = fresh();
  await execChecked("skopeo", ["copy", "-q", "--override-arch", "arm64", "--override-variant", "v8", `oci:${p}:multi`, `oci:${out}:multi`]);
  const copied = JSON.parse(await readFile(join(out, "index.json"), "utf8")) as { manifests: { digest: string }[] };
  assert.equal(copied.manifests[0]!.digest, r.image.digest, "skopeo and walk agree on the image digest");
  const walkBlobs = r.blobs.filter((b) => b.kind !== "index").map((b) => b.digest).sort();
  const copiedFromOut = await resolveImage(await openOciLayout(out, "multi"), parsePlatform("linux/arm64"));
  assert.deepEqual([...copiedFromOut.layers.map((l) => l.digest), copiedFromOut.manifest.parsed.config.digest, copiedFromOut.digest].sort(), walkBlobs);
  const inspected = await execChecked("skopeo", ["inspect", "--raw", `oci:${out}:multi`]);
  assert.deepEqual(Buffer.from(inspected.stdout), r.image.manifest.bytes);
});
