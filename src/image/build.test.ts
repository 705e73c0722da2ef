// The app disk pipeline: naming, lookup, base reuse without reading layers, the /walk files on
// the disk, e2fsck-clean output, and that a failed build leaves nothing behind.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildImage, buildSampleImage, type BuiltImage, type LayerSpec } from "../../test/fixtures/images.js";
import { isWalkError, type ErrorCode } from "../lib/errors.js";
import { buildAppDisk, listAppDisks, type BuildAppDiskRequest } from "./build.js";
import { layerInput, type CountingLayer } from "./flatten/testing/layers.js";
import { encodeRuntimeConfig, resolveRuntimeConfig } from "./runconfig.js";
import { assertFsckClean, debugfs } from "./build/testing/disk-tools.js";

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), "walk-build-test-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

type CountingRequest = Omit<BuildAppDiskRequest, "layers"> & { layers: CountingLayer[] };

function request(image: BuiltImage, outDir: string, extra: Partial<CountingRequest> = {}): CountingRequest {
  return { layers: image.layers.map((l) => layerInput(l)), imageDigest: image.digest, config: image.configJson, outDir, ...extra };
}

/** Every file below `dir`, relative, recursively. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (!e.isDirectory()) out.push(join(e.parentPath, e.name).slice(dir.length + 1));
  return out.sort();
}

void test("build: a new image is flattened into <digest>-<config-id>-app.ext4 with /walk/argv and /walk/env", async (t) => {
  const out = tempDir(t);
  const image = await buildSampleImage();
  const req = request(image, out);
  const disk = await buildAppDisk(req);
  const enc = encodeRuntimeConfig(resolveRuntimeConfig(image.configJson.config));
  assert.equal(disk.reused, "none");
  assert.equal(disk.path, join(out, `${image.digest.slice(7)}-${disk.configId}-app.ext4`));
  assert.equal(disk.sizeBytes, statSync(disk.path).size);
  // The first config's disk is the base disk itself under a second name: nothing was copied.
  assert.equal(statSync(disk.path).nlink, 2);
  assert.deepEqual(req.layers.map((l) => l.opened), [1, 1]);
  assertFsckClean(disk.path);
  assert.deepEqual(debugfs(disk.path, "cat /walk/argv"), enc.argv);
  assert.deepEqual(debugfs(disk.path, "cat /walk/env"), enc.env);
  assert.equal(debugfs(disk.path, "cat /etc/motd").toString(), "layer two\n");
  assert.match(debugfs(disk.path, "ls -l /etc").toString(), /hostname/);
  assert.doesNotMatch(debugfs(disk.path, "ls -l /etc").toString(), /remove-me|\.wh\./);
  assert.deepEqual(filesUnder(out).filter((f) => !f.startsWith(".base/")), [`${image.digest.slice(7)}-${disk.configId}-app.ext4`]);
});

void test("build: the same config again is a lookup; a new config clones the base without reading layers", async (t) => {
  const out = tempDir(t);
  const image = await buildSampleImage();
  const first = await buildAppDisk(request(image, out));

  const again = request(image, out);
  const same = await buildAppDisk(again);
  assert.deepEqual([same.reused, same.path, same.configId], ["disk", first.path, first.configId]);
  assert.deepEqual(again.layers.map((l) => l.opened), [0, 0]);

  const other = request(image, out, { overrides: { cmd: ["--port", "9090"], env: ["MODE=a b"], user: "nobody" } });
  const derived = await buildAppDisk(other);
  assert.equal(derived.reused, "base");
  assert.notEqual(derived.configId, first.configId);
  assert.deepEqual(other.layers.map((l) => l.opened), [0, 0]);
  assertFsckClean(derived.path);
  const enc = encodeRuntimeConfig(resolveRuntimeConfig(image.configJson.config, { cmd: ["--port", "9090"], env: ["MODE=a b"], user: "nobody" }));
  assert.deepEqual(debugfs(derived.path, "cat /walk/argv"), enc.argv);
  assert.deepEqual(debugfs(derived.path, "cat /walk/env"), enc.env);
  assert.equal(debugfs(derived.path, "cat /usr/bin/app").toString(), "#!/bin/sh\necho hello\n");
  const listed = await listAppDisks(out);
  assert.deepEqual(listed.map((d) => [d.imageDigest, d.configId]).sort(), [[image.digest, first.configId], [image.digest, derived.configId]].sort());
  // The first disk is untouched by the derivation.
  assert.deepEqual(debugfs(first.path, "cat /walk/argv"), encodeRuntimeConfig(resolveRuntimeConfig(image.configJson.config)).argv);
});

async function failsLeavingNothing(t: { after: (fn: () => void) => void }, image: BuiltImage, code: ErrorCode, message: RegExp, extra: Partial<CountingRequest> = {}): Promise<void> {
  const out = tempDir(t);
  await assert.rejects(buildAppDisk(request(image, out, extra)), (err: unknown) => {
    assert.ok(isWalkError(err), String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
  assert.deepEqual(filesUnder(out), [], "a failed build must leave no file behind");
}

void test("build: bad input fails with a clear error and publishes nothing", async (t) => {
  const layer = (entries: LayerSpec["entries"]): LayerSpec => ({ entries });
  const img = (...layers: LayerSpec[]): Promise<BuiltImage> => buildImage({ layers, config: { Cmd: ["/bin/true"] } });
  await failsLeavingNothing(t, await img(layer([{ type: "file", path: "../../etc/passwd", content: "x" }])), "invalid_argument", /escapes the root/);
  await failsLeavingNothing(t, await img(layer([{ type: "file", path: "a", content: "x" }, { type: "hardlink", path: "b", target: "../../../etc/shadow" }])), "invalid_argument", /escapes the root/);
  await failsLeavingNothing(t, await img(layer([{ type: "symlink", path: "etc", target: "/etc" }]), layer([{ type: "file", path: "etc/cron.d/x", content: "x" }])), "invalid_argument", /through the symlink/);
  await failsLeavingNothing(t, await img(layer([{ type: "file", path: ".wh..", content: "" }])), "invalid_argument", /would delete \//);
  await failsLeavingNothing(t, await img(layer([{ type: "whiteout", path: "../../etc/passwd" }])), "invalid_argument", /escapes the root/);
  await failsLeavingNothing(t, await img(layer([{ type: "file", path: "a", content: "1" }, { type: "file", path: "a", content: "2" }])), "invalid_argument", /appears twice/);
  await failsLeavingNothing(t, await img(layer([{ type: "file", path: "big", content: "x".repeat(10000) }])), "size_exceeded", /limit of 4096 uncompressed bytes/, { limits: { maxTotalBytes: 4096 } });
  await failsLeavingNothing(t, await buildImage({ layers: [layer([])], config: {} }), "invalid_argument", /pass --entrypoint or a command/);
  await failsLeavingNothing(t, await img(layer([])), "invalid_argument", /empty key/, { overrides: { env: ["=x"] } });

  const good = await img(layer([{ type: "file", path: "a", content: "A".repeat(20000) }]), layer([{ type: "file", path: "b", content: "b" }]));
  const truncated = good.layers.map((l, i) => layerInput(l, i === 1 ? { data: l.data.subarray(0, l.data.length - 10) } : {}));
  await failsLeavingNothing(t, good, "invalid_argument", /layer 2 \(sha256:[0-9a-f]+\): the layer's gzip stream is truncated/, { layers: truncated });
  const lying = good.layers.map((l, i) => layerInput(l, i === 0 ? { diffId: good.layers[1]?.diffId ?? "" } : {}));
  await failsLeavingNothing(t, { ...good, configJson: { ...good.configJson, rootfs: { type: "layers", diff_ids: lying.map((l) => l.diffId) } } }, "digest_mismatch", /layer 1 \(sha256:[0-9a-f]+\): the uncompressed layer hashes to/, { layers: lying });
  await failsLeavingNothing(t, good, "invalid_argument", /its config lists 2 diff_ids, or they differ/, { layers: good.layers.slice(0, 1).map((l) => layerInput(l)) });
});

void test("build: a build canceled between layers is a canceled error and leaves nothing", async (t) => {
  const out = tempDir(t);
  const image = await buildSampleImage();
  const abort = new AbortController();
  const req = request(image, out, { signal: abort.signal, onProgress: (p) => p.phase === "flatten" && p.layer === 0 && abort.abort() });
  await assert.rejects(buildAppDisk(req), (err: unknown) => isWalkError(err, "canceled"));
  assert.deepEqual(req.layers.map((l) => l.opened), [1, 0]);
  assert.deepEqual(filesUnder(out), []);
});
