// `walk base build|import|ls|default` end to end through walkd, using the real guest build
// (cached by content under /var/cache/walk, so this is fast once the kernel was built).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildTestBase } from "../harness/qemu.js";
import { startTestDaemon } from "../harness/daemon.js";
import { runCli } from "../harness/cli.js";
import type { BaseWire } from "../../src/api/schemas.js";

const repoRoot = process.cwd();

test("walk base build, import, ls and default", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "walk-base-cli-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const artifacts = await buildTestBase(repoRoot, join(dir, "artifacts"));
  const d = await startTestDaemon();
  t.after(() => d.close());
  const walk = (...args: string[]) => runCli(d.daemon.socketPath, args, { timeoutMs: 20 * 60_000 });

  assert.deepEqual(JSON.parse((await walk("base", "ls", "--json")).stdout), []);

  const built = await walk("base", "build", "--json");
  assert.equal(built.code, 0, built.stderr);
  const b = JSON.parse(built.stdout) as BaseWire;
  assert.equal(b.origin, "build");
  assert.equal(b.default, true, "the first base becomes the default");
  assert.ok(b.files["vmlinux"] && b.files["rootfs.ext4"]);

  const imported = await walk("base", "import", "--json", "--kernel", artifacts.kernel, "--rootfs", artifacts.rootfs);
  assert.equal(imported.code, 0, imported.stderr);
  const i = JSON.parse(imported.stdout) as BaseWire;
  assert.equal(i.origin, "import");
  assert.equal(i.default, false);
  assert.equal(i.files["vmlinux"]!.sha256, b.files["vmlinux"]?.sha256);

  assert.equal((await walk("base", "default", i.version)).code, 0);
  const listed = JSON.parse((await walk("base", "ls", "--json")).stdout) as BaseWire[];
  assert.deepEqual(listed.map((x) => [x.version, x.default]).sort(), [[b.version, false], [i.version, true]].sort());

  const notKernel = join(dir, "not-a-kernel");
  await writeFile(notKernel, "hello\n");
  const bad = await walk("base", "import", "--kernel", notKernel);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /not-a-kernel/);
  const missing = await walk("base", "default", "no-such-base");
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no base no-such-base/);
  assert.equal((JSON.parse((await walk("base", "ls", "--json")).stdout) as BaseWire[]).length, 2, "a failed import adds nothing");
});
