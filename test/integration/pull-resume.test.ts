// An interrupted pull against a real registry (Debian's docker-registry on 127.0.0.1): nothing
// half-stored, and the next pull resumes the layer with a Range request and verifies it. Digest
// parity with skopeo is tested in pull-registry.test.ts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildImage, pseudoRandomBytes } from "../fixtures/images.js";
import { startRegistry, type RunningRegistry } from "../harness/registry.js";
import { RegistrySource } from "../../src/oci/registry/index.js";
import { parseRegistryReference } from "../../src/oci/reference.js";
import { parsePlatform } from "../../src/oci/platform.js";
import { pullImage } from "../../src/image/pull.js";
import { BlobStore } from "../../src/image/store/index.js";
import { isWalkError } from "../../src/lib/errors.js";

let registry: RunningRegistry;
let dir: string;
before(async () => {
  registry = await startRegistry({ mode: "plain" });
  dir = await mkdtemp(join(tmpdir(), "walk-pull-resume-"));
});
after(async () => {
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
});

const amd64 = parsePlatform("linux/amd64");

function source(repoTag: string): RegistrySource {
  return new RegistrySource(parseRegistryReference(`${registry.host}/${repoTag}`), { allowLoopbackPlainHttp: true });
}

void test("a pull interrupted mid-layer stores nothing half-done and the next pull resumes it with a Range request", async () => {
  const img = await buildImage({ layers: [{ compression: "none", entries: [{ type: "file", path: "big", content: pseudoRandomBytes("resume", 4 * 1024 * 1024) }] }] });
  await registry.push("walk/resume", "1", img);
  const store = await BlobStore.open(join(dir, "store"));
  const layer = img.layers[0]!;
  const controller = new AbortController();
  const firstSource = source("walk/resume:1");
  const first = pullImage({
    source: firstSource,
    store,
    platform: amd64,
    signal: controller.signal,
    onProgress: (e) => {
      if (e.type === "layer" && e.completed > 0 && e.completed < e.total) controller.abort();
    },
  });
  await assert.rejects(first, (err: unknown) => isWalkError(err, "canceled"));
  await firstSource.close();
  assert.equal(await store.has(layer.digest), false);
  const partial = join(store.root, "ingest", `${layer.digest.slice(7)}.partial`);
  const kept = (await readFile(partial)).length;
  assert.ok(kept > 0 && kept < layer.size, `kept ${kept} bytes`);

  const secondSource = source("walk/resume:1");
  const r = await pullImage({ source: secondSource, store, platform: amd64 });
  await secondSource.close();
  assert.equal(r.downloadedBytes, layer.size - kept, "only the rest of the layer was downloaded");
  await store.verify(layer.digest);
  assert.equal(r.image.digest, img.digest);
});
