// `walk doctor`'s QEMU findings: a missing binary and an impossible accel = kvm, each with a fix;
// the chosen accelerator and its reason otherwise.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { qemuHostReport } from "./doctor.js";

test("a missing binary and accel = kvm without a device are problems with fixes", async () => {
  const sys = await mkdtemp(join(tmpdir(), "walk-doctor-"));
  const r = await qemuHostReport({ qemuPath: join(sys, "qemu"), accel: "kvm" }, { devKvm: join(sys, "kvm"), sysModule: sys });
  assert.equal(r.accel, undefined);
  assert.equal(r.problems.length, 2);
  assert.match(r.problems[0]!.problem, /QEMU binary not found/);
  assert.match(r.problems[0]!.fix, /apt-get install qemu-system-x86/);
  assert.match(r.problems[1]!.problem, /accel = kvm is configured but/);
  await rm(sys, { recursive: true, force: true });
});

test("with the binary present, auto reports TCG on a host without hardware KVM, with the reason", async () => {
  const sys = await mkdtemp(join(tmpdir(), "walk-doctor-"));
  const r = await qemuHostReport({ qemuPath: "/bin/sh", accel: "auto" }, { devKvm: join(sys, "kvm"), sysModule: sys });
  assert.deepEqual(r.problems, []);
  assert.equal(r.accel?.accel, "tcg");
  assert.match(r.accel?.reason ?? "", /^TCG \(software emulation\): .* cannot be opened/);
  await rm(sys, { recursive: true, force: true });
});
