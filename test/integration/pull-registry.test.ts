// walk's registry pull against a real docker-registry (plain HTTP on 127.0.0.1), cross-checked
// with skopeo: the same image pulled both ways gives the same manifest and blob digests. Covers
// multi-layer OCI images, zstd and uncompressed layers, Docker schema 2, a two-platform index and
// a Docker manifest list, and the errors for a missing platform and a missing tag.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { isWalkError } from "../../src/lib/errors.js";
import { hostPlatform, parsePlatform } from "../../src/oci/platform.js";
import { pullImage } from "../../src/image/pull.js";
import { buildImage, buildIndex, buildSampleImage, MediaTypes, pseudoRandomBytes, type BuiltImage, type Compression } from "../fixtures/images.js";
import { startRegistry, type RunningRegistry } from "../harness/registry.js";
import { openFreshStore, pullIntoFreshStore, registrySource, skopeoCopy, skopeoInspectDigest } from "../harness/pull.js";

let reg: RunningRegistry;
before(async () => {
  reg = await startRegistry({ mode: "plain" });
});
after(async () => {
  await reg.stop();
});

const amd64 = parsePlatform("linux/amd64");
const arm64 = parsePlatform("linux/arm64/v8");

/** Layers with some random bytes so they are not all the same size after compression. */
async function layeredImage(compressions: Compression[], seed: string, extra: Partial<Parameters<typeof buildImage>[0]> = {}): Promise<BuiltImage> {
  return buildImage({
    layers: compressions.map((compression, i) => ({
      compression,
      entries: [
        { type: "dir", path: `l${i}/` },
        { type: "file", path: `l${i}/data`, content: pseudoRandomBytes(`${seed}/${i}`, 50_000 + i * 1000) },
        { type: "file", path: `l${i}/text`, content: `layer ${i}\n`.repeat(500) },
      ],
    })),
    platform: hostPlatform(),
    config: { Cmd: ["/l0/data"], Env: ["A=1"] },
    ...extra,
  });
}

const sorted = (xs: Iterable<string>): string[] => [...xs].sort();

void test("pull-registry: a multi-layer OCI image matches skopeo copy and skopeo inspect digest for digest", async () => {
  const image = await layeredImage(["gzip", "gzip", "none", "gzip"], "multi");
  await reg.push("walk/multi", "v1", image);
  const walk = await pullIntoFreshStore(registrySource(reg, "walk/multi:v1"));
  try {
    assert.equal(walk.result.image.digest, image.digest);
    assert.equal(walk.result.image.indexDigest, undefined);
    assert.deepEqual(walk.result.image.layers.map((l) => l.digest), image.layers.map((l) => l.digest));
    const expected = sorted([image.digest, image.config.digest, ...image.layers.map((l) => l.digest)]);
    assert.deepEqual(walk.stored, expected);
    for (const d of walk.stored) await walk.store.verify(d);
    const skopeo = await skopeoCopy(reg, "walk/multi:v1", "oci");
    assert.equal(skopeo.manifestDigest, walk.result.image.digest);
    assert.deepEqual(skopeo.blobs, walk.stored);
    assert.equal(await skopeoInspectDigest(reg, "walk/multi:v1"), walk.result.image.digest);
  } finally {
    await walk.cleanup();
  }
});

void test("pull-registry: zstd layers are stored as served, verified, and skopeo agrees", async () => {
  const image = await layeredImage(["zstd", "gzip", "zstd"], "zstd");
  assert.equal(image.layers[0]?.mediaType, MediaTypes.ociLayerZstd);
  await reg.push("walk/zstd", "v1", image);
  const walk = await pullIntoFreshStore(registrySource(reg, "walk/zstd:v1"));
  try {
    assert.equal(walk.result.image.digest, image.digest);
    assert.deepEqual(
      walk.result.blobs.filter((b) => b.kind === "layer").map((b) => b.mediaType),
      [MediaTypes.ociLayerZstd, MediaTypes.ociLayerGzip, MediaTypes.ociLayerZstd],
    );
    for (const d of walk.stored) await walk.store.verify(d);
    const skopeo = await skopeoCopy(reg, "walk/zstd:v1", "oci");
    assert.equal(skopeo.manifestDigest, image.digest);
    assert.deepEqual(skopeo.blobs, walk.stored);
  } finally {
    await walk.cleanup();
  }
});

void test("pull-registry: a Docker schema-2 image keeps its Docker manifest bytes; skopeo dir: copy agrees", async () => {
  const image = await layeredImage(["gzip", "gzip"], "docker", { format: "docker" });
  await reg.push("walk/docker", "v2", image);
  const walk = await pullIntoFreshStore(registrySource(reg, "walk/docker:v2"));
  try {
    assert.equal(walk.result.image.digest, image.digest);
    assert.equal(walk.result.image.manifest.mediaType, MediaTypes.dockerManifest);
    assert.equal(walk.result.image.config.mediaType, MediaTypes.dockerConfig);
    assert.deepEqual(walk.result.image.config.parsed.config?.Cmd, ["/l0/data"]);
    const skopeo = await skopeoCopy(reg, "walk/docker:v2", "dir");
    assert.equal(skopeo.manifestDigest, walk.result.image.digest);
    assert.deepEqual(skopeo.blobs, walk.stored.filter((d) => d !== image.digest));
    assert.equal(await skopeoInspectDigest(reg, "walk/docker:v2"), image.digest);
  } finally {
    await walk.cleanup();
  }
});

void test("pull-registry: a two-platform OCI index selects the requested platform like skopeo does", async () => {
  const amd = await layeredImage(["gzip"], "idx-amd", { platform: amd64 });
  const arm = await layeredImage(["gzip", "gzip"], "idx-arm", { platform: arm64 });
  const index = buildIndex([amd, arm]);
  await reg.push("walk/multiarch", "v1", index);
  assert.equal(await skopeoInspectDigest(reg, "walk/multiarch:v1"), index.digest);
  for (const [platform, image] of [
    [amd64, amd],
    [arm64, arm],
  ] as const) {
    const walk = await pullIntoFreshStore(registrySource(reg, "walk/multiarch:v1"), { platform });
    try {
      assert.equal(walk.result.image.digest, image.digest);
      assert.equal(walk.result.image.indexDigest, index.digest);
      assert.deepEqual(walk.result.image.platform, platform);
      assert.deepEqual(walk.stored, sorted([index.digest, image.digest, image.config.digest, ...image.layers.map((l) => l.digest)]));
      const skopeo = await skopeoCopy(reg, "walk/multiarch:v1", "oci", platform);
      assert.equal(skopeo.manifestDigest, image.digest);
      assert.deepEqual(skopeo.blobs, walk.stored.filter((d) => d !== index.digest));
    } finally {
      await walk.cleanup();
    }
  }
});

void test("pull-registry: a Docker manifest list pulled by digest resolves to the arm64 Docker manifest", async () => {
  const amd = await layeredImage(["gzip"], "list-amd", { platform: amd64, format: "docker" });
  const arm = await layeredImage(["gzip"], "list-arm", { platform: arm64, format: "docker" });
  const list = buildIndex([amd, arm], { format: "docker" });
  assert.equal(list.manifest.mediaType, MediaTypes.dockerManifestList);
  await reg.push("walk/list", undefined, list);
  const walk = await pullIntoFreshStore(registrySource(reg, `walk/list@${list.digest}`), { platform: arm64 });
  try {
    assert.equal(walk.result.image.indexDigest, list.digest);
    assert.equal(walk.result.image.digest, arm.digest);
    assert.equal(walk.result.image.manifest.mediaType, MediaTypes.dockerManifest);
  } finally {
    await walk.cleanup();
  }
});

void test("pull-registry: no matching platform is not_found listing the platforms, and nothing is stored", async () => {
  const amd = await buildSampleImage({ platform: amd64 });
  const arm = await buildSampleImage({ platform: arm64 });
  await reg.push("walk/twoplat", "v1", buildIndex([amd, arm]));
  const fresh = await openFreshStore();
  const source = registrySource(reg, "walk/twoplat:v1");
  try {
    await assert.rejects(pullImage({ source, store: fresh.store, platform: parsePlatform("linux/s390x") }), (err: unknown) => {
      assert.ok(isWalkError(err, "not_found"), String(err));
      assert.match(err.message, /linux\/s390x/);
      assert.match(err.message, /linux\/amd64/);
      assert.match(err.message, /linux\/arm64\/v8/);
      return true;
    });
    assert.deepEqual(await fresh.digests(), []);
  } finally {
    await source.close();
    await fresh.cleanup();
  }
});

void test("pull-registry: a tag that does not exist is not_found naming the reference, and nothing is stored", async () => {
  await reg.push("walk/exists", "v1", await buildSampleImage({ platform: hostPlatform() }));
  const fresh = await openFreshStore();
  const source = registrySource(reg, "walk/exists:missing");
  try {
    await assert.rejects(pullImage({ source, store: fresh.store }), (err: unknown) => {
      assert.ok(isWalkError(err, "not_found"), String(err));
      assert.ok(err.message.includes(`${reg.host}/walk/exists:missing`), err.message);
      return true;
    });
    assert.deepEqual(await fresh.digests(), []);
  } finally {
    await source.close();
    await fresh.cleanup();
  }
});
