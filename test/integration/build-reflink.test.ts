// On a reflink filesystem (XFS, reflink=1), an app disk for a new config shares the base disk's
// blocks: deriving it must take (almost) no space, which proves the clone copies nothing (the
// kernel shares the blocks through FICLONE, or through copy_file_range, which XFS implements as a
// remap).
// Needs root (loop mount) and mkfs.xfs (Debian package xfsprogs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { statfsSync } from "node:fs";
import { join } from "node:path";
import { buildImage, pseudoRandomBytes } from "../fixtures/images.js";
import { buildAppDisk } from "../../src/image/build.js";
import { layerInput } from "../../src/image/flatten/testing/layers.js";
import { assertFsckClean, debugfs } from "../../src/image/build/testing/disk-tools.js";
import { scratchWithMountPoint } from "../harness/mount-dir.js";

const hasXfs = spawnSync("mkfs.xfs", ["-V"]).status === 0;
const skip = process.getuid?.() !== 0 ? "needs root for a loop mount" : !hasXfs ? "needs mkfs.xfs (Debian package xfsprogs)" : false;

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
}

void test("build on XFS: a new config's disk is a reflink clone of the base disk", { skip, timeout: 300_000 }, async (t) => {
  const { work, mnt } = scratchWithMountPoint(t, "walk-reflink-");
  run("truncate", ["-s", "1G", join(work, "xfs.img")]);
  run("mkfs.xfs", ["-q", "-m", "reflink=1", join(work, "xfs.img")]);
  run("mount", ["-o", "loop", join(work, "xfs.img"), mnt]);

  const image = await buildImage({
    layers: [{ entries: [{ type: "file", path: "data.bin", content: pseudoRandomBytes("reflink", 32 << 20) }], compression: "none" }],
    config: { Cmd: ["/bin/true"] },
  });
  const outDir = join(mnt, "disks");
  const req = { layers: image.layers.map((l) => layerInput(l)), imageDigest: image.digest, config: image.configJson, outDir };
  const first = await buildAppDisk(req);
  assert.equal(first.reused, "none");

  const used = (): number => {
    const s = statfsSync(mnt);
    return (s.blocks - s.bfree) * s.bsize;
  };
  const before = used();
  const derived = await buildAppDisk({ ...req, overrides: { env: ["NEW=config"] } });
  const grew = used() - before;
  assert.equal(derived.reused, "base");
  assert.ok(derived.sizeBytes > 32 << 20);
  assert.ok(grew < 4 << 20, `deriving a ${derived.sizeBytes}-byte disk used ${grew} bytes: the clone copied data`);
  assertFsckClean(derived.path);
  assert.match(debugfs(derived.path, "cat /walk/env").toString("latin1"), /NEW=config/);
  assert.doesNotMatch(debugfs(first.path, "cat /walk/env").toString("latin1"), /NEW=config/);
});
