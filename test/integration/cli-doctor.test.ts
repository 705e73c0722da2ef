// `walk doctor` through walkd: the backend chosen on this host and why, and every problem with its
// fix — a missing base, a configured Firecracker that is not there.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildTestBase } from "../harness/qemu.js";
import { startTestDaemon } from "../harness/daemon.js";
import { runCli } from "../harness/cli.js";
import type { DoctorWire } from "../../src/api/schemas.js";

test("walk doctor names the backend, the missing base with its fix, then passes once a base is in", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "walk-doctor-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const d = await startTestDaemon();
  t.after(() => d.close());
  const walk = (...args: string[]) => runCli(d.daemon.socketPath, args);

  const first = await walk("doctor", "--json");
  assert.equal(first.code, 1);
  const r = JSON.parse(first.stdout) as DoctorWire;
  assert.equal(r.ok, false);
  assert.equal(r.backend, "qemu", "this host has PVM KVM and no firecracker: QEMU");
  const base = r.checks.find((c) => c.name === "base")!;
  assert.equal(base.status, "fail");
  assert.match(base.fix ?? "", /walk base build/);
  assert.equal(r.checks.find((c) => c.name === "firecracker")?.status, "warn", "Firecracker is optional when QEMU runs machines");

  const text = await walk("doctor");
  assert.match(text.stdout, /FAIL {2}base/);
  assert.match(text.stdout, /fix: walk base build/);

  const artifacts = await buildTestBase(process.cwd(), join(dir, "artifacts"));
  assert.equal((await walk("base", "import", "--kernel", artifacts.kernel, "--rootfs", artifacts.rootfs)).code, 0);
  const after = await walk("doctor", "--json");
  assert.equal(after.code, 0, after.stdout);
  assert.equal((JSON.parse(after.stdout) as DoctorWire).ok, true);
});

test("walk doctor fails a configured Firecracker backend whose binary is missing, and says how to fix it", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "walk-doctor-fc-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, "walkd.toml");
  await writeFile(config, `[machines]\nbackend = "firecracker"\n[firecracker]\nbinary = "${join(dir, "no-firecracker")}"\n`);
  const d = await startTestDaemon({ flags: { config } });
  t.after(() => d.close());
  const out = await runCli(d.daemon.socketPath, ["doctor", "--json"]);
  assert.equal(out.code, 1);
  const r = JSON.parse(out.stdout) as DoctorWire;
  assert.equal(r.backend, "firecracker");
  const fc = r.checks.find((c) => c.name === "firecracker")!;
  assert.equal(fc.status, "fail");
  assert.match(fc.detail, /no-firecracker/);
  assert.match(fc.fix ?? "", /\[firecracker\]/);
});
