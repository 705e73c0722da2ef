// pullImage against a real registry (Debian's docker-registry on 127.0.0.1), cross-checked with
// skopeo: the same image digest and byte-identical blobs for a multi-layer OCI image with a zstd
// layer, a two-platform index and a Docker schema 2 image; and a pull interrupted mid-layer that
// resumes with a Range request the next time.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildImage, buildIndex, buildSampleImage, pseudoRandomBytes, sha256, type Built } from "../fixtures/images.js";
import { startRegistry, type RunningRegistry } from "../harness/registry.js";
import { RegistrySource } from "../../src/oci/registry/index.js";
import { parseRegistryReference } from "../../src/oci/reference.js";
import { parsePlatform } from "../../src/oci/platform.js";
import { pullImage } from "../../src/image/pull.js";
import { BlobStore } from "../../src/image/store/index.js";
import { execChecked } from "../../src/lib/exec.js";
import { isWalkError } from "../../src/lib/errors.js";

let registry: RunningRegistry;
let dir: string;
before(async () => {
  registry = await startRegistry({ mode: "plain" });
  dir = await mkdtemp(join(tmpdir(), "walk-pull-skopeo-"));
});
after(async () => {
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
});

const amd64 = parsePlatform("linux/amd64");
let n = 0;

function source(repoTag: string): RegistrySource {
  return new RegistrySource(parseRegistryReference(`${registry.host}/${repoTag}`), { allowLoopbackPlainHttp: true });
}

/** skopeo copy to a dir: (keeps the manifest as the registry serves it); returns the dir. */
async function skopeoCopy(repoTag: string, arch = "amd64"): Promise<string> {
  const out = join(dir, `skopeo-${n++}`);
  await execChecked("skopeo", ["copy", "-q", "--src-tls-verify=false", "--override-os", "linux", "--override-arch", arch, `docker://${registry.host}/${repoTag}`, `dir:${out}`], { timeoutMs: 60_000 });
  return out;
}

async function pullAndCompare(repoTag: string, built: Built, platform = amd64, arch = "amd64"): Promise<void> {
  await registry.push(repoTag.split(":")[0]!, repoTag.split(":")[1], built);
  const store = await BlobStore.open(join(dir, `store-${n++}`));
  const src = source(repoTag);
  const r = await pullImage({ source: src, store, platform });
  await src.close();
  const out = await skopeoCopy(repoTag, arch);
  const manifest = await readFile(join(out, "manifest.json"));
  assert.equal(r.image.digest, sha256(manifest), "walk and skopeo agree on the image digest");
  const skopeoBlobs = (await readdir(out)).filter((f) => /^[0-9a-f]{64}$/.test(f));
  const walkBlobs = r.blobs.filter((b) => b.kind === "layer" || b.kind === "config").map((b) => b.digest.slice(7));
  assert.deepEqual(walkBlobs.sort(), skopeoBlobs.sort());
  for (const hex of skopeoBlobs) assert.deepEqual(await readFile(store.path(`sha256:${hex}`)), await readFile(join(out, hex)));
}

void test("a multi-layer OCI image with a zstd layer: same digest and blobs as skopeo", async () => {
  const img = await buildSampleImage({
    layers: [
      { entries: [{ type: "file", path: "a", content: "gzip layer" }], compression: "gzip" },
      { entries: [{ type: "file", path: "b", content: "zstd layer" }], compression: "zstd" },
      { entries: [{ type: "file", path: "c", content: "plain layer" }], compression: "none" },
    ],
  });
  await pullAndCompare("walk/multi:1", img);
});

void test("a two-platform index: the platform's manifest digest, as skopeo picks it", async () => {
  const a = await buildSampleImage();
  const b = await buildSampleImage({ platform: { os: "linux", architecture: "arm64", variant: "v8" }, config: { Cmd: ["arm"] } });
  await pullAndCompare("walk/index:1", buildIndex([a, b]), parsePlatform("linux/arm64"), "arm64");
});

void test("a Docker schema 2 image: same digest and blobs as skopeo", async () => {
  await pullAndCompare("walk/docker:1", await buildSampleImage({ format: "docker" }));
});

void test("a pull interrupted mid-layer stores nothing half-done and the next pull resumes it with a Range request", async () => {
  const img = await buildImage({ layers: [{ compression: "none", entries: [{ type: "file", path: "big", content: pseudoRandomBytes("resume", 4 * 1024 * 1024) }] }] });
  await registry.push("walk/resume", "1", img);
  const store = await BlobStore.open(join(dir, `store-${n++}`));
  const layer = img.layers[0]!;
  const controller = new AbortController();
  const first = pullImage({
    source: source("walk/resume:1"),
    store,
    platform: amd64,
    signal: controller.signal,
    onProgress: (e) => {
      if (e.type === "layer" && e.completed > 0 && e.completed < e.total) controller.abort();
    },
  });
  await assert.rejects(first, (err: unknown) => isWalkError(err, "canceled"));
  assert.equal(await store.has(layer.digest), false);
  const partial = join(store.root, "ingest", `${layer.digest.slice(7)}.partial`);
  const kept = (await readFile(partial)).length;
  assert.ok(kept > 0 && kept < layer.size, `kept ${kept} bytes`);

  const r = await pullImage({ source: source("walk/resume:1"), store, platform: amd64 });
  assert.equal(r.downloadedBytes, layer.size - kept, "only the rest of the layer was downloaded");
  await store.verify(layer.digest);
  assert.equal(r.image.digest, img.digest);
});
