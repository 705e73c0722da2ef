// The QEMU driver with real boots under TCG (the base from guest/build-all.sh, disks from the
// harness fixtures): boot to exit, graceful and forced stop, pause and resume, re-attach from a
// fresh driver after a "daemon restart" (and its refusals), snapshot and restore of a counter,
// and the failures that must leave nothing behind. Boots run one after another (2 shared cores);
// each has a hard timeout. No timing assertions: the bounds are generous on purpose.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { AgentChannel, guestCmdline, type GuestParams } from "../../src/base/index.js";
import { execChecked, isWalkError } from "../../src/lib/index.js";
import { isSameProcessAlive, readProcessStat, type MachineSpec, type SnapshotFiles, type VmHandle, type VmRecord } from "../../src/vm/index.js";
import { QemuDriver, qmpExecute } from "../../src/vm/qemu/index.js";
import { b, makeAppDisk, makeStateDisk } from "../harness/guest-disks.js";
import { buildTestBase, guestSpec, type GuestBase } from "../harness/qemu.js";

const repoRoot = process.cwd();
/** Hard bound on one boot's wait: a TCG guest on a loaded 2-core machine, not an expectation. */
const BOOT_MS = 90_000;
let dir: string;
let base: GuestBase;
const driver = new QemuDriver({ accel: "tcg" });
const live: VmHandle[] = [];
const agents: AgentChannel[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "walk-vm-qemu-"));
  base = await buildTestBase(repoRoot, join(dir, "base"));
});
after(async () => {
  for (const vm of live) await vm.kill();
  for (const a of agents) await a.close();
  await rm(dir, { recursive: true, force: true });
});

const sh = (script: string): Buffer[] => [b("sh"), b("-c"), b(script)];

let n = 0;
/** A machine spec with fresh app and state disks running `script`; its agent listener is open. */
async function machine(script: string, params: GuestParams = {}): Promise<{ spec: MachineSpec; agent: AgentChannel }> {
  n++;
  const m = join(dir, `m${n}`);
  await mkdir(m);
  await makeAppDisk(join(m, "app.ext4"), { config: { argv: sh(script), env: [] } });
  await makeStateDisk(join(m, "state.ext4"));
  const spec = guestSpec({ id: `qemu-test-${n}`, base, app: join(m, "app.ext4"), state: join(m, "state.ext4"), dir: m, bootArgs: guestCmdline({ agent: "virtio-console", ...params }), agentChannel: join(m, "run", "agent.sock") });
  // The app drive listed first: the driver, not the spec's order, makes the root drive the guest's vda.
  const [vda, vdb, vdc] = spec.drives;
  spec.drives = [vdb!, vda!, vdc!];
  await mkdir(spec.runtimeDir, { mode: 0o700 });
  const agent = await AgentChannel.listen(spec.agentChannel!);
  agents.push(agent);
  return { spec, agent };
}

async function started(spec: MachineSpec, drv = driver): Promise<VmHandle> {
  const vm = drv.create(spec);
  live.push(vm);
  await vm.start();
  return vm;
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = BOOT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const consoleOf = async (spec: MachineSpec): Promise<string> => (await readFile(spec.consoleLogPath, "utf8").catch(() => "")).replace(/\r\n/g, "\n");
const bounded = <T>(p: Promise<T>, what: string): Promise<T> =>
  Promise.race([p, sleep(BOOT_MS, undefined, { ref: false }).then(() => Promise.reject(new Error(`${what} did not finish within ${BOOT_MS} ms`)))]);

async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isWalkError(err, code as never), `expected WalkError ${code}, got ${String(err)}`);
    assert.match((err as Error).message, message);
    return true;
  });
}

describe("QEMU driver, real boots under TCG", { timeout: 15 * 60_000 }, () => {
  test("boots a workload that prints and exits 0: wait() resolves, console and agent report it, QMP socket removed", async () => {
    const { spec, agent } = await machine("echo hello-from-qemu-driver; cat /proc/cmdline; exit 0");
    const vm = driver.create(spec);
    live.push(vm);
    const records: VmRecord[] = [];
    await vm.start({ onSpawned: (r) => void records.push(r) });
    assert.equal(vm.state, "running");
    assert.equal(records.length, 1);
    assert.deepEqual(records[0], vm.record);
    assert.equal(records[0]!.backend, "qemu");
    assert.equal(records[0]!.controlSocket, join(spec.runtimeDir, "qmp.sock"));
    assert.equal(vm.agentSocketPath, spec.agentChannel);
    // Its own session (field 6 of /proc/PID/stat is the session id), so walkd's signals never reach it.
    const stat = await readFile(`/proc/${vm.pid}/stat`, "utf8");
    assert.equal(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3], String(vm.pid));
    const exit = await bounded(vm.wait(), "the boot");
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.equal(vm.state, "exited");
    await until("the agent's status", () => agent.status !== undefined, 5000).catch(() => undefined);
    assert.deepEqual(agent.status, { kind: "exit", code: 0 });
    assert.ok(agent.started !== undefined, "WALK-STARTED arrived on the agent channel");
    const cons = await consoleOf(spec);
    assert.match(cons, /hello-from-qemu-driver/);
    assert.match(cons, /tsc_early_khz=\d+/, "the driver added tsc_early_khz under TCG");
    assert.match(cons, /WALK-STATUS v1 exit=0/);
    assert.equal(existsSync(join(spec.runtimeDir, "qmp.sock")), false);
    // Nothing left to do: stop and kill are no-ops returning the exit.
    assert.deepEqual(await vm.stop(), exit);
    assert.deepEqual(await vm.kill(), exit);
  });

  test("pause and resume over QMP; stop() of a paused VM resumes it and the workload exits gracefully on SIGTERM", async () => {
    const { spec, agent } = await machine("trap 'echo got-term; exit 3' TERM; echo waiting; while :; do sleep 0.1; done");
    const vm = await started(spec);
    await until("the workload", async () => (await consoleOf(spec)).includes("waiting"));
    const qmp = join(spec.runtimeDir, "qmp.sock");
    await vm.pause();
    assert.equal(vm.state, "paused");
    assert.deepEqual(((await qmpExecute(qmp, "query-status")) as { status: string }).status, "paused");
    await vm.resume();
    assert.equal(vm.state, "running");
    assert.deepEqual(((await qmpExecute(qmp, "query-status")) as { status: string }).status, "running");
    await vm.pause();
    const exit = await bounded(vm.stop({ timeoutMs: 60_000 }), "stop");
    assert.deepEqual(exit, { code: 0, signal: null }, "QEMU exited on its own: the guest rebooted");
    assert.match(await consoleOf(spec), /got-term/);
    await until("the agent's status", () => agent.status !== undefined, 5000).catch(() => undefined);
    assert.deepEqual(agent.status, { kind: "exit", code: 3 });
  });

  test("stop() of a workload that ignores SIGINT and SIGTERM kills QEMU after the timeout", async () => {
    const { spec } = await machine("trap '' INT TERM; echo waiting; while :; do sleep 0.1; done", { graceSeconds: 3600 });
    const vm = await started(spec);
    await until("the workload", async () => (await consoleOf(spec)).includes("waiting"));
    const exit = await bounded(vm.stop({ timeoutMs: 1500 }), "stop");
    assert.deepEqual(exit, { code: null, signal: "SIGKILL" });
    assert.equal(vm.state, "exited");
    assert.equal(existsSync(join(spec.runtimeDir, "qmp.sock")), false);
    assert.doesNotMatch(await consoleOf(spec), /WALK-STATUS/);
  });

  test("after a daemon restart a fresh driver re-attaches (refusing a wrong record), reconnects the agent, and stops the VM", async () => {
    const { spec, agent } = await machine("trap 'echo got-term; exit 5' TERM; echo waiting; while :; do sleep 0.1; done");
    const vm = await started(spec);
    await until("the workload", async () => (await consoleOf(spec)).includes("waiting"));
    const record = vm.record!;
    // The old walkd is gone: its agent listener with it. The next one listens on the same path.
    await agent.close();
    const agent2 = await AgentChannel.listen(spec.agentChannel!);
    agents.push(agent2);
    const fresh = new QemuDriver({ accel: "tcg" });

    await rejectsWith(fresh.attach(spec, { ...record, startTime: String(Number(record.startTime) + 1) }), "conflict", /pid was reused/);
    await rejectsWith(fresh.attach(spec, { ...record, backend: "firecracker" }), "conflict", /recorded as a firecracker VM/);
    await rejectsWith(fresh.attach(spec, { ...record, controlSocket: join(dir, "other.sock") }), "conflict", /not the machine's/);
    await rejectsWith(fresh.attach({ ...spec, id: "another-machine", runtimeDir: spec.runtimeDir }, record), "conflict", /says it is "walk-qemu-test-\d+", not walk-another-machine/);
    assert.ok(await isSameProcessAlive(record.pid, record.startTime), "the refusals did not touch the VM");

    const adopted = await fresh.attach(spec, record);
    assert.equal(adopted.state, "running");
    assert.deepEqual(adopted.record, record);
    // QEMU reconnects its agent port to the new listener (reconnect=1).
    await until("the agent reconnecting", () => agent2.connected, 30_000);
    const exit = await bounded(adopted.stop({ timeoutMs: 60_000 }), "stop");
    assert.deepEqual(exit, { code: null, signal: null }, "not walkd's child: the exit status is unknown");
    assert.equal(await readProcessStat(record.pid).then((s) => s !== null && s.startTime === record.startTime && s.state !== "Z"), false);
    assert.match(await consoleOf(spec), /got-term/);
    await until("the agent's status", () => agent2.status !== undefined, 5000).catch(() => undefined);
    assert.deepEqual(agent2.status, { kind: "exit", code: 5 }, "the final status reached the new listener");
    assert.equal(existsSync(join(spec.runtimeDir, "qmp.sock")), false);
    await rejectsWith(fresh.attach(spec, record), "not_found", /no longer running/);
  });
});

describe("QEMU driver networking", { timeout: 5 * 60_000 }, () => {
  test("the tap in spec.network is the guest's eth0, with the spec's MAC: the guest pings the host end", async (t) => {
    // The whole topology lives in a namespace of our own; QEMU is started inside it by a wrapper
    // that execs (so the pid the driver records is QEMU's).
    const ns = `walk-qemu-test-${process.pid}`;
    const tap = "wkq0";
    await execChecked("ip", ["netns", "add", ns]);
    t.after(() => execChecked("ip", ["netns", "del", ns]));
    await execChecked("ip", ["-n", ns, "tuntap", "add", "dev", tap, "mode", "tap"]);
    await execChecked("ip", ["-n", ns, "addr", "add", "10.99.0.1/24", "dev", tap]);
    await execChecked("ip", ["-n", ns, "link", "set", tap, "up"]);
    const wrapper = join(dir, "qemu-in-netns");
    await writeFile(wrapper, `#!/bin/sh\nexec /usr/bin/ip netns exec ${ns} /usr/bin/qemu-system-x86_64 "$@"\n`, { mode: 0o755 });
    const { spec, agent } = await machine("echo mac=$(cat /sys/class/net/eth0/address); ping -c 1 -W 20 10.99.0.1 && echo PING-OK", {
      ip: { address: "10.99.0.2", prefix: 24 },
    });
    const netSpec: MachineSpec = { ...spec, network: { tap, mac: "06:00:0a:63:00:02" } };
    const vm = await started(netSpec, new QemuDriver({ qemuPath: wrapper, accel: "tcg" }));
    const exit = await bounded(vm.wait(), "the boot");
    assert.deepEqual(exit, { code: 0, signal: null });
    const cons = await consoleOf(spec);
    assert.match(cons, /mac=06:00:0a:63:00:02/);
    assert.match(cons, /PING-OK/);
    await until("the agent's status", () => agent.status !== undefined, 5000).catch(() => undefined);
    assert.deepEqual(agent.status, { kind: "exit", code: 0 });
  });
});

describe("QEMU snapshots: migrate to a file, restore with -incoming", { timeout: 10 * 60_000 }, () => {
  const counter = "trap 'echo got-term; exit 4' TERM; i=0; while :; do i=$((i+1)); echo count=$i; sleep 0.2; done";
  let snap: { spec: MachineSpec; files: SnapshotFiles; agent: AgentChannel } | undefined;
  const counts = (text: string): number[] => [...text.matchAll(/^count=(\d+)$/gm)].map((m) => Number(m[1]));

  test("a counter's in-memory state survives snapshot, kill and restore; the agent keeps working; a resumed source runs on", async () => {
    const { spec, agent } = await machine(counter);
    const vm = await started(spec);
    await until("the counter", async () => counts(await consoleOf(spec)).length >= 3);
    const files = { statePath: join(dir, "snap.state"), memoryPath: join(dir, "snap.mem") };
    await bounded(vm.snapshot(files), "snapshot");
    assert.equal(vm.state, "paused");
    const atSnapshot = Math.max(...counts(await consoleOf(spec)));
    assert.equal((await stat(files.memoryPath)).mode & 0o777, 0o600);
    const meta = JSON.parse(await readFile(files.statePath, "utf8")) as Record<string, unknown>;
    assert.equal(meta.format, "walk-qemu-snapshot/1");
    assert.equal(meta.memMib, spec.memMib);
    // The source can go on after a snapshot.
    await vm.resume();
    await until("the resumed counter", async () => Math.max(...counts(await consoleOf(spec))) >= atSnapshot + 4);
    await bounded(vm.kill(), "kill");
    const before = await consoleOf(spec);
    const last = Math.max(...counts(before));

    // The restored guest continues from the snapshot: its counter resumes where the snapshot was, not at 1.
    await agent.close();
    const agent2 = await AgentChannel.listen(spec.agentChannel!);
    agents.push(agent2);
    const restored = driver.create(spec);
    live.push(restored);
    await restored.start({ restore: files });
    assert.equal(restored.state, "running");
    await until("the restored counter", async () => counts((await consoleOf(spec)).slice(before.length)).length >= 2);
    const after = counts((await consoleOf(spec)).slice(before.length));
    assert.ok(last >= atSnapshot + 4, "the resumed source counted on before it was killed");
    // The pause may split a line ("count=1|2"), so the first whole line after the restore is 0 to 2 past the snapshot's.
    assert.ok(after[0]! >= atSnapshot && after[0]! <= atSnapshot + 2, `the counter went on from the snapshot's ${atSnapshot} (after the restore: ${after.join(",")}; the source reached ${last})`);
    const exit = await bounded(restored.stop({ timeoutMs: 60_000 }), "stop");
    assert.deepEqual(exit, { code: 0, signal: null });
    await until("the agent's status", () => agent2.status !== undefined, 5000).catch(() => undefined);
    assert.deepEqual(agent2.status, { kind: "exit", code: 4 });
    snap = { spec, files, agent: agent2 };
  });

  test("a restore into another machine shape, from a missing file or from another QEMU build is refused, leaving nothing", async () => {
    assert.ok(snap, "the snapshot test ran first");
    const { spec, files } = snap;
    const shape = driver.create({ ...spec, memMib: 192 });
    await rejectsWith(shape.start({ restore: files }), "invalid_argument", /it was taken with memMib 128, this machine has 192/);
    assert.equal(shape.state, "new", "refused before QEMU was started");
    assert.equal(shape.pid, undefined);
    await rejectsWith(driver.create(spec).start({ restore: { ...files, memoryPath: join(dir, "none.mem") } }), "not_found", /none\.mem/);

    const other = { ...files, statePath: join(dir, "other-qemu.state") };
    const meta = JSON.parse(await readFile(files.statePath, "utf8")) as Record<string, unknown>;
    await writeFile(other.statePath, JSON.stringify({ ...meta, qemu: "0.0.0" }));
    await snap.agent.close();
    agents.push(await AgentChannel.listen(spec.agentChannel!));
    const build = driver.create(spec);
    await rejectsWith(build.start({ restore: other }), "invalid_argument", /written by QEMU 0\.0\.0, this is QEMU \d+\.\d+\.\d+/);
    assert.equal(build.state, "exited", "QEMU was started, asked, and killed");
    assert.equal(existsSync(join(spec.runtimeDir, "qmp.sock")), false);
  });
});

describe("QEMU driver failures leave nothing behind", { timeout: 5 * 60_000 }, () => {
  test("invalid specs are refused before anything is created", async () => {
    const { spec } = await machine("exit 0");
    const cases: Array<[Partial<MachineSpec>, RegExp]> = [
      [{ id: "bad id!" }, /the id must be/],
      [{ drives: spec.drives.map((d) => ({ ...d, root: false })) }, /exactly one drive must be the root drive/],
      [{ vcpus: 0 }, /vcpus must be/],
      [{ runtimeDir: join(dir, "x".repeat(120)) }, /longer than the 107 bytes/],
    ];
    for (const [patch, message] of cases) {
      const s = { ...spec, ...patch, runtimeDir: patch.runtimeDir ?? join(dir, `never-${n}`) };
      const vm = driver.create(s);
      await rejectsWith(vm.start(), "invalid_argument", message);
      assert.equal(vm.state, "new");
      assert.equal(vm.pid, undefined);
      assert.equal(existsSync(s.runtimeDir), false, `${s.runtimeDir} was not created`);
    }
  });

  test("a missing QEMU binary is `unavailable` with the fix", async () => {
    const { spec } = await machine("exit 0");
    const vm = new QemuDriver({ qemuPath: join(dir, "no-such-qemu"), accel: "tcg" }).create(spec);
    await rejectsWith(vm.start(), "unavailable", /QEMU binary not found: walk looked at .*no-such-qemu \(ENOENT\)\. Install it with `apt-get install qemu-system-x86`/);
    assert.equal(vm.state, "new");
    assert.deepEqual(await readdir(spec.runtimeDir), ["agent.sock"]);
  });

  test("no listener on the agent socket is refused before spawning", async () => {
    const { spec, agent } = await machine("exit 0");
    await agent.close();
    const vm = driver.create(spec);
    await rejectsWith(vm.start(), "invalid_argument", /nothing listens on the agent socket/);
    assert.equal(vm.pid, undefined);
    assert.deepEqual(await readdir(spec.runtimeDir), []);
  });

  test("a QEMU that cannot open a drive fails start with the end of its log, and no socket is left", async () => {
    const { spec } = await machine("exit 0");
    const missing = join(dir, "no-such-disk.ext4");
    const s: MachineSpec = { ...spec, drives: spec.drives.map((d) => (d.id === "vdc" ? { ...d, path: missing } : d)) };
    const vm = driver.create(s);
    await rejectsWith(vm.start(), "internal", /QEMU's log .*qemu\.log ends: .*no-such-disk\.ext4/);
    assert.equal(vm.state, "exited");
    assert.equal(existsSync(join(s.runtimeDir, "qmp.sock")), false);
  });

  test("onSpawned throwing kills QEMU before its guest ran; start fails with that error", async () => {
    const { spec } = await machine("echo must-not-run");
    const vm = driver.create(spec);
    let record: VmRecord | undefined;
    await assert.rejects(
      vm.start({
        onSpawned: (r) => {
          record = r;
          throw new Error("the database is gone");
        },
      }),
      /the database is gone/,
    );
    assert.ok(record);
    assert.equal(vm.state, "exited");
    assert.equal(await isSameProcessAlive(record.pid, record.startTime), false);
    assert.equal(existsSync(join(spec.runtimeDir, "qmp.sock")), false);
    assert.doesNotMatch(await consoleOf(spec), /must-not-run/);
  });

  test("a VMM that never opens its QMP socket is a timeout, and it is killed", async () => {
    const { spec } = await machine("exit 0");
    const fake = join(dir, "silent-qemu");
    await writeFile(fake, "#!/bin/sh\necho 'pretending to be QEMU' >&2\nexec /bin/sleep 600\n", { mode: 0o755 });
    const vm = new QemuDriver({ qemuPath: fake, accel: "tcg" }).create({ ...spec, timeouts: { socketMs: 500, requestMs: 500 } });
    let record: VmRecord | undefined;
    await rejectsWith(vm.start({ onSpawned: (r) => void (record = r) }), "timeout", /did not open its socket .*qmp\.sock within 500 ms; QEMU's log .* ends: pretending to be QEMU/);
    assert.ok(record);
    assert.equal(await isSameProcessAlive(record.pid, record.startTime), false);
  });

  test("a second start of a running machine's spec is refused without touching the running VM", async () => {
    const { spec } = await machine("echo waiting; sleep 600");
    const vm = await started(spec);
    const second = driver.create(spec);
    // The running VM's log is not the refused start's: it must not be quoted, nor truncated.
    await writeFile(join(spec.runtimeDir, "qemu.log"), "running VM's diagnostics\n", { flag: "a" });
    await rejectsWith(second.start(), "conflict", /QMP socket .* is in use by a running process$/);
    assert.equal(second.pid, undefined);
    assert.match(await readFile(join(spec.runtimeDir, "qemu.log"), "utf8"), /running VM's diagnostics/);
    assert.ok(await isSameProcessAlive(vm.pid!, vm.record!.startTime));
    const exit = await bounded(vm.kill(), "kill");
    assert.deepEqual(exit, { code: null, signal: "SIGKILL" });
    assert.equal(existsSync(join(spec.runtimeDir, "qmp.sock")), false);
  });
});
