// walk's pull from the two file-based sources, an OCI image layout directory and a classic
// `docker save` tarball, both written by the fixtures and cross-checked with skopeo reading the
// same files: the same manifest digest and the same blobs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execChecked } from "../../src/lib/exec.js";
import { isWalkError } from "../../src/lib/errors.js";
import { hostPlatform, parsePlatform } from "../../src/oci/platform.js";
import { openOciLayout } from "../../src/oci/layout.js";
import { openDockerArchive } from "../../src/oci/docker-archive.js";
import { buildIndex, buildSampleImage, sha256, writeDockerArchive, writeOciLayout, type BuiltImage, type BuiltIndex } from "../fixtures/images.js";
import { pullIntoFreshStore } from "../harness/pull.js";

let dir: string;
let layout: string;
let archive: string;
let single: BuiltImage;
let arm: BuiltImage;
let index: BuiltIndex;
let dockerImage: BuiltImage;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "walk-pull-local-"));
  single = await buildSampleImage({ platform: hostPlatform() });
  arm = await buildSampleImage({ platform: parsePlatform("linux/arm64/v8"), config: { Cmd: ["arm"] } });
  index = buildIndex([single, arm]);
  layout = join(dir, "layout");
  await writeOciLayout(layout, [
    { image: single, tag: "v1" },
    { image: index, tag: "multi" },
  ]);
  dockerImage = await buildSampleImage({ platform: hostPlatform(), format: "docker" });
  archive = join(dir, "image.tar");
  await writeDockerArchive(archive, dockerImage, ["example.com/walk/app:v1"]);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** skopeo copy SRC dir:OUT; returns the manifest digest and blob digests skopeo wrote. */
async function skopeoToDir(src: string, platform?: string): Promise<{ manifestDigest: string; blobs: string[] }> {
  const out = await mkdtemp(join(dir, "skopeo-"));
  const arch = platform ? ["--override-arch", parsePlatform(platform).architecture, "--override-variant", parsePlatform(platform).variant ?? ""] : [];
  await execChecked("skopeo", [...arch, "copy", "-q", src, `dir:${out}`], { timeoutMs: 60_000 });
  const blobs = (await readdir(out)).filter((f) => /^[0-9a-f]{64}$/.test(f)).map((h) => `sha256:${h}`);
  return { manifestDigest: sha256(await readFile(join(out, "manifest.json"))), blobs: blobs.sort() };
}

void test("pull-local: an OCI layout tag pulls the image skopeo copies from the same layout", async () => {
  const walk = await pullIntoFreshStore(await openOciLayout(layout, "v1"));
  try {
    assert.equal(walk.result.image.digest, single.digest);
    assert.equal(walk.result.image.name, `oci:${layout}:v1`);
    const skopeo = await skopeoToDir(`oci:${layout}:v1`);
    assert.equal(skopeo.manifestDigest, single.digest);
    assert.deepEqual(skopeo.blobs, walk.stored.filter((d) => d !== single.digest));
  } finally {
    await walk.cleanup();
  }
});

void test("pull-local: an index in an OCI layout resolves to the requested platform like skopeo", async () => {
  const walk = await pullIntoFreshStore(await openOciLayout(layout, "multi"), { platform: parsePlatform("linux/arm64/v8") });
  try {
    assert.equal(walk.result.image.digest, arm.digest);
    assert.equal(walk.result.image.indexDigest, index.digest);
    assert.deepEqual(walk.result.image.config.parsed.config?.Cmd, ["arm"]);
    const skopeo = await skopeoToDir(`oci:${layout}:multi`, "linux/arm64/v8");
    assert.equal(skopeo.manifestDigest, arm.digest);
  } finally {
    await walk.cleanup();
  }
});

void test("pull-local: a tag the layout does not hold is not_found naming the tag", async () => {
  await assert.rejects(
    async () => pullIntoFreshStore(await openOciLayout(layout, "missing")),
    (err: unknown) => isWalkError(err, "not_found") && err.message.includes("missing") && err.message.includes(layout),
  );
});

void test("pull-local: a docker save tarball gives the digest skopeo synthesises and the layers as diff_ids", async () => {
  const walk = await pullIntoFreshStore(await openDockerArchive(archive));
  try {
    const raw = await execChecked("skopeo", ["inspect", "--raw", `docker-archive:${archive}`]);
    assert.equal(walk.result.image.digest, sha256(raw.stdout));
    assert.equal(walk.result.image.config.digest, dockerImage.config.digest);
    assert.deepEqual(walk.result.image.layers.map((l) => l.digest), dockerImage.layers.map((l) => l.diffId));
    const skopeo = await skopeoToDir(`docker-archive:${archive}`);
    assert.equal(skopeo.manifestDigest, walk.result.image.digest);
    assert.deepEqual(skopeo.blobs, walk.stored.filter((d) => d !== walk.result.image.digest));
    for (const d of walk.stored) await walk.store.verify(d);
  } finally {
    await walk.cleanup();
  }
});

void test("pull-local: a docker save tarball with gzip layer.tar files still matches skopeo's digest", async () => {
  const path = join(dir, "gz.tar");
  await writeDockerArchive(path, dockerImage, ["example.com/walk/app:v1"], { compressedLayers: true });
  const walk = await pullIntoFreshStore(await openDockerArchive(path));
  try {
    const raw = await execChecked("skopeo", ["inspect", "--raw", `docker-archive:${path}`]);
    assert.equal(walk.result.image.digest, sha256(raw.stdout));
    assert.deepEqual(walk.result.image.layers.map((l) => l.digest), dockerImage.layers.map((l) => l.diffId));
    for (const d of walk.stored) await walk.store.verify(d);
  } finally {
    await walk.cleanup();
  }
});
