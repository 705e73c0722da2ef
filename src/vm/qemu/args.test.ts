// The QEMU command line built from a machine spec: device order, read-only drives, escaping,
// the agent and network devices, the accelerator, and tsc_early_khz under TCG only.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { MachineSpec } from "../types.js";
import { bootArgsFor, optValue, qemuCommandLine } from "./args.js";
import { qemuLayout } from "./layout.js";

const spec: MachineSpec = {
  id: "m1",
  kernelPath: "/k/vm,linux",
  bootArgs: "console=ttyS0 reboot=t",
  drives: [
    { id: "vdb", path: "/d/app.ext4", readOnly: true },
    { id: "vda", path: "/d/base,1.ext4", readOnly: true, root: true },
    { id: "vdc", path: "/d/state.ext4", readOnly: false },
  ],
  vcpus: 2,
  memMib: 256,
  network: { tap: "wk0", mac: "06:00:ac:10:00:02" },
  consoleLogPath: "/l/console.log",
  agentChannel: "/r/agent.sock",
  runtimeDir: "/r",
};

/** The value after each occurrence of `flag`. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
}

test("a full spec: name, machine, held vCPUs, root drive first, ro drives, console appended, agent, tap, QMP", () => {
  const args = qemuCommandLine(spec, qemuLayout(spec), { accel: "tcg", bootArgs: "B", incoming: false });
  assert.deepEqual(values(args, "-name"), ["walk-m1"]);
  assert.deepEqual(values(args, "-M"), ["microvm,acpi=off"]);
  assert.deepEqual(values(args, "-sandbox"), ["on,obsolete=deny,elevateprivileges=deny,resourcecontrol=deny"]);
  assert.deepEqual([values(args, "-accel"), values(args, "-cpu"), values(args, "-m"), values(args, "-smp")], [["tcg"], ["max"], ["256"], ["2"]]);
  for (const f of ["-S", "-no-reboot", "-nodefaults", "-no-user-config"]) assert.ok(args.includes(f), f);
  assert.deepEqual(values(args, "-kernel"), ["/k/vm,linux"], "plain strings are not escaped");
  assert.deepEqual(values(args, "-append"), ["B"]);
  assert.deepEqual(values(args, "-drive"), [
    "id=vda,file=/d/base,,1.ext4,format=raw,if=none,readonly=on",
    "id=vdb,file=/d/app.ext4,format=raw,if=none,readonly=on",
    "id=vdc,file=/d/state.ext4,format=raw,if=none",
  ]);
  assert.deepEqual(values(args, "-chardev"), [
    "file,id=console,path=/l/console.log,append=on",
    "socket,id=agent,path=/r/agent.sock,reconnect=1",
    "socket,id=qmp,path=/r/qmp.sock,server=on,wait=off",
  ]);
  assert.deepEqual(values(args, "-serial"), ["chardev:console"]);
  assert.deepEqual(values(args, "-device"), [
    "i8042",
    "virtio-blk-device,drive=vda",
    "virtio-blk-device,drive=vdb",
    "virtio-blk-device,drive=vdc",
    "virtio-serial-device,id=vser0",
    "virtserialport,bus=vser0.0,chardev=agent,name=walk.agent",
    "virtio-net-device,netdev=net0,mac=06:00:ac:10:00:02",
  ]);
  assert.deepEqual(values(args, "-netdev"), ["tap,id=net0,ifname=wk0,script=no,downscript=no"]);
  assert.deepEqual(values(args, "-mon"), ["chardev=qmp,mode=control"]);
  assert.deepEqual(values(args, "-incoming"), []);
});

test("KVM uses the host CPU; a restore waits for its stream; no agent and no network leave their devices out", () => {
  const { agentChannel: _a, network: _n, ...bare } = spec;
  const args = qemuCommandLine(bare, qemuLayout(bare), { accel: "kvm", bootArgs: "B", incoming: true });
  assert.deepEqual([values(args, "-accel"), values(args, "-cpu")], [["kvm"], ["host"]]);
  assert.deepEqual(values(args, "-incoming"), ["defer"]);
  assert.equal(values(args, "-netdev").length, 0);
  assert.ok(!values(args, "-device").some((d) => d.startsWith("virtio-serial") || d.startsWith("virtio-net")));
  assert.ok(!values(args, "-chardev").some((c) => c.includes("id=agent")));
});

test("tsc_early_khz is added under TCG only, and never twice", () => {
  assert.equal(bootArgsFor(spec, "tcg", () => 2_000_000), "console=ttyS0 reboot=t tsc_early_khz=2000000");
  assert.equal(bootArgsFor(spec, "kvm", () => 2_000_000), "console=ttyS0 reboot=t");
  const given = { ...spec, bootArgs: "console=ttyS0 tsc_early_khz=123" };
  assert.equal(bootArgsFor(given, "tcg", () => 2_000_000), "console=ttyS0 tsc_early_khz=123");
  assert.throws(() => bootArgsFor({ ...spec, bootArgs: "x".repeat(2040) }, "tcg", () => 2_000_000), /longer than 2048 bytes/);
});

test("commas in option values are doubled, as QEMU's option parser expects", () => {
  assert.equal(optValue("/a,b,,c"), "/a,,b,,,,c");
  assert.equal(optValue("/plain"), "/plain");
});
