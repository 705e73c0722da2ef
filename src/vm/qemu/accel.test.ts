// The accelerator rule against fake /dev and /sys trees: PVM, hardware modules, no device, and
// the configured settings.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isWalkError } from "../../lib/index.js";
import { probeKvm, resolveAccel } from "./accel.js";

async function tree(modules: string[]): Promise<{ sysModule: string; done: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), "walk-accel-"));
  for (const m of modules) await mkdir(join(root, m));
  return { sysModule: root, done: () => rm(root, { recursive: true, force: true }) };
}

// /dev/null is a character device that opens read-write: it stands in for a usable /dev/kvm node.
const DEV = "/dev/null";

test("KVM is used with kvm_intel or kvm_amd and no kvm_pvm", async () => {
  for (const m of ["kvm_intel", "kvm_amd"]) {
    const t = await tree(["kvm", m]);
    assert.deepEqual(await resolveAccel("auto", { devKvm: DEV, sysModule: t.sysModule }), { accel: "kvm", reason: `${DEV} is usable (module ${m})` });
    await t.done();
  }
});

test("PVM, no hardware module, no device or a non-device node mean TCG under auto", async () => {
  const pvm = await tree(["kvm", "kvm_pvm", "kvm_intel"]);
  const none = await tree(["kvm"]);
  const file = join(none.sysModule, "file");
  await writeFile(file, "");
  const cases: Array<[string, string, RegExp]> = [
    [DEV, pvm.sysModule, /is PVM \(module kvm_pvm\)/],
    [DEV, none.sysModule, /neither kvm_intel nor kvm_amd is loaded/],
    [join(none.sysModule, "no-kvm"), none.sysModule, /cannot be opened read-write \(ENOENT\)/],
    [file, none.sysModule, /is not a character device/],
  ];
  for (const [devKvm, sysModule, reason] of cases) {
    const c = await resolveAccel("auto", { devKvm, sysModule });
    assert.equal(c.accel, "tcg");
    assert.match(c.reason, reason);
    assert.equal((await probeKvm({ devKvm, sysModule })).usable, false);
  }
  await pvm.done();
  await none.done();
});

test("accel = tcg is taken as configured; accel = kvm needs a device that opens, else `unavailable`", async () => {
  const pvm = await tree(["kvm_pvm"]);
  assert.deepEqual(await resolveAccel("tcg", { devKvm: "/nonexistent", sysModule: pvm.sysModule }), { accel: "tcg", reason: "accel = tcg is configured" });
  const forced = await resolveAccel("kvm", { devKvm: DEV, sysModule: pvm.sysModule });
  assert.equal(forced.accel, "kvm", "the operator's choice wins over the PVM rule");
  await assert.rejects(resolveAccel("kvm", { devKvm: "/nonexistent/kvm", sysModule: pvm.sysModule }), (err: unknown) => isWalkError(err, "unavailable") && /accel = kvm is configured but .* cannot be opened/.test((err as Error).message));
  await pvm.done();
});
