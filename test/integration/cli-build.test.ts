// `walk image build` end to end: the CLI, walkd, the content store and the ext4 writer, checked
// with e2fsprogs. Covers reuse (lookup, derive from the base disk), bad input, rm and prune.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "../../src/lib/index.js";
import { buildImage, buildSampleImage, writeDockerArchive, writeOciLayout } from "../fixtures/images.js";
import { startTestDaemon } from "../harness/daemon.js";
import { runCli } from "../harness/cli.js";
import type { AppDiskResultWire } from "../../src/api/schemas.js";

async function debugfsCat(disk: string, path: string): Promise<Buffer> {
  const r = await execFile("debugfs", ["-R", `cat ${path}`, disk], { maxOutput: 1 << 20 });
  assert.equal(r.code, 0, r.stderr);
  return Buffer.from(r.stdout, "latin1");
}

test("build, reuse, derive a new config, and clean up with rm and prune", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "walk-build-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const image = await buildSampleImage();
  await writeOciLayout(join(dir, "layout"), [{ image, tag: "v1" }]);
  const d = await startTestDaemon();
  t.after(() => d.close());
  const walk = (...args: string[]) => runCli(d.daemon.socketPath, args);
  const ref = `oci:${join(dir, "layout")}:v1`;
  assert.equal((await walk("image", "pull", "-q", ref)).code, 0);

  const first = await walk("image", "build", "--json", ref);
  assert.equal(first.code, 0, first.stderr);
  const disk = JSON.parse(first.stdout) as AppDiskResultWire;
  assert.equal(disk.reused, "none");
  assert.equal(disk.path, join(d.config.dataDir, "disks", `${image.digest.slice(7)}-${disk.config_id}-app.ext4`));
  const fsck = await execFile("e2fsck", ["-fn", disk.path]);
  assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
  assert.deepEqual(await debugfsCat(disk.path, "/walk/argv"), Buffer.from("walk-argv-v1\0/usr/bin/app\0--serve\0", "latin1"));
  const env = (await debugfsCat(disk.path, "/walk/env")).toString("latin1");
  assert.equal(env, "walk-env-v1\0PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\0WALK=1\0WALK_WORKDIR=/srv\0WALK_USER=1000:1000\0");
  assert.equal((await debugfsCat(disk.path, "/etc/motd")).toString(), "layer two\n");

  const again = JSON.parse((await walk("image", "build", "--json", ref)).stdout) as AppDiskResultWire;
  assert.deepEqual({ ...again, reused: "none" }, disk);
  assert.equal(again.reused, "disk");

  const other = await walk("image", "build", "--json", "-e", "MODE=a b=c", "--user", "0", "--entrypoint", '["/bin/sh","-c"]', ref, "--", "echo hi");
  assert.equal(other.code, 0, other.stderr);
  const derived = JSON.parse(other.stdout) as AppDiskResultWire;
  assert.equal(derived.reused, "base");
  assert.notEqual(derived.config_id, disk.config_id);
  assert.deepEqual(await debugfsCat(derived.path, "/walk/argv"), Buffer.from("walk-argv-v1\0/bin/sh\0-c\0echo hi\0", "latin1"));
  assert.match((await debugfsCat(derived.path, "/walk/env")).toString("latin1"), /\0MODE=a b=c\0WALK_WORKDIR=\/srv\0WALK_USER=0\0$/);
  const fsck2 = await execFile("e2fsck", ["-fn", derived.path]);
  assert.equal(fsck2.code, 0, fsck2.stdout + fsck2.stderr);

  const listed = JSON.parse((await walk("image", "ls", "--json")).stdout) as { app_disks: { id: string }[] }[];
  assert.deepEqual(listed[0]!.app_disks.map((a) => a.id).sort(), [disk.id, derived.id].sort());

  const pruned = JSON.parse((await walk("image", "prune", "--json")).stdout) as { removed_app_disks: string[]; removed_blobs: string[] };
  assert.deepEqual(pruned.removed_app_disks.sort(), [disk.id, derived.id].sort());
  assert.deepEqual(pruned.removed_blobs, []);
  // The base disk of a live image stays, so the next build derives instead of converting.
  const rebuilt = JSON.parse((await walk("image", "build", "--json", ref)).stdout) as AppDiskResultWire;
  assert.equal(rebuilt.reused, "base");

  assert.equal((await walk("image", "rm", ref)).code, 0);
  assert.deepEqual((await readdir(join(d.config.dataDir, "disks"))).filter((n) => n !== ".base"), []);
  assert.deepEqual(await readdir(join(d.config.dataDir, "disks", ".base")), []);
});

test("bad build input is refused with a clear message and publishes nothing", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "walk-build-bad-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const bare = await buildImage({ layers: [{ entries: [{ type: "file", path: "hello", content: "hi" }] }], config: {} });
  await writeOciLayout(join(dir, "layout"), [{ image: bare, tag: "bare" }]);
  const d = await startTestDaemon();
  t.after(() => d.close());
  const walk = (...args: string[]) => runCli(d.daemon.socketPath, args);
  const ref = `oci:${join(dir, "layout")}:bare`;
  assert.equal((await walk("image", "pull", "-q", ref)).code, 0);

  const noCmd = await walk("image", "build", ref);
  assert.equal(noCmd.code, 1);
  assert.match(noCmd.stderr, /--entrypoint/);

  const badKey = await walk("image", "build", "-e", "=oops", ref, "--", "/hello");
  assert.equal(badKey.code, 1);
  assert.match(badKey.stderr, /env/i);

  const reserved = await walk("image", "build", "-e", "WALK_USER=0", ref, "--", "/hello");
  assert.equal(reserved.code, 1);
  assert.match(reserved.stderr, /WALK_/);

  const relative = await walk("image", "build", "--workdir", "srv", ref, "--", "/hello");
  assert.equal(relative.code, 1);
  assert.match(relative.stderr, /absolute/);

  const notPulled = await walk("image", "build", "localhost:5000/never/pulled:1");
  assert.equal(notPulled.code, 1);
  assert.match(notPulled.stderr, /no image localhost:5000\/never\/pulled:1/);

  assert.deepEqual((await readdir(join(d.config.dataDir, "disks"))).filter((n) => n !== ".base"), []);
});

test("an image from a docker save tarball builds, though its plain tar layers are labelled gzip", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "walk-build-archive-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const image = await buildSampleImage();
  await writeDockerArchive(join(dir, "app.tar"), image, ["team/app:1"]);
  const d = await startTestDaemon();
  t.after(() => d.close());
  const walk = (...args: string[]) => runCli(d.daemon.socketPath, args);
  const ref = `docker-archive:${join(dir, "app.tar")}:team/app:1`;
  const pulled = await walk("image", "pull", "-q", ref);
  assert.equal(pulled.code, 0, pulled.stderr);
  const built = await walk("image", "build", "--json", ref);
  assert.equal(built.code, 0, built.stderr);
  const disk = JSON.parse(built.stdout) as AppDiskResultWire;
  assert.equal((await debugfsCat(disk.path, "/etc/motd")).toString(), "layer two\n");
  const fsck = await execFile("e2fsck", ["-fn", disk.path]);
  assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
});
