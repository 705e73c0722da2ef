// Building needs no privileges: a build run as nobody (uid 65534, no groups) produces a disk whose
// files keep the image's owners, devices and setuid bits, and which e2fsck finds clean.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chownSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assertFsckClean, debugfs } from "../../src/image/build/testing/disk-tools.js";

const skip = process.getuid?.() === 0 ? false : "needs root to start a process as nobody";
const dist = new URL("../../", import.meta.url).pathname;

void test("build as nobody: no root, no mount, and the image's owners and devices are on the disk", { skip, timeout: 120_000 }, (t) => {
  const work = mkdtempSync(join(tmpdir(), "walk-unprivileged-"));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  chownSync(work, 65534, 65534);
  const script = join(work, "build.mjs");
  writeFileSync(
    script,
    `const { buildImage } = await import(${JSON.stringify(`${dist}test/fixtures/images.js`)});
const { buildAppDisk } = await import(${JSON.stringify(`${dist}src/image/build.js`)});
const { layerInput } = await import(${JSON.stringify(`${dist}src/image/flatten/testing/layers.js`)});
const image = await buildImage({ config: { Cmd: ["/bin/sh"], User: "app" }, layers: [{ entries: [
  { type: "file", path: "bin/su", content: "su", mode: 0o4755 },
  { type: "file", path: "home/app/owned", content: "x", uid: 1000, gid: 1000 },
  { type: "char", path: "dev/null", major: 1, minor: 3, mode: 0o666 },
] }] });
const disk = await buildAppDisk({ layers: image.layers.map((l) => layerInput(l)), imageDigest: image.digest, config: image.configJson, outDir: ${JSON.stringify(join(work, "out"))} });
console.log(JSON.stringify({ uid: process.getuid(), path: disk.path }));
`,
  );
  const r = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, script], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { uid: number; path: string };
  assert.equal(out.uid, 65534);
  assert.equal(statSync(out.path).uid, 65534);
  assertFsckClean(out.path);
  assert.match(debugfs(out.path, "stat /bin/su").toString(), /Mode:\s+04755/);
  assert.match(debugfs(out.path, "stat /home/app/owned").toString(), /User:\s+1000\s+Group:\s+1000/);
  assert.match(debugfs(out.path, "stat /dev/null").toString(), /Device major\/minor number: 01:03/);
  assert.match(debugfs(out.path, "cat /walk/env").toString("latin1"), /WALK_USER=app\0/);
});
