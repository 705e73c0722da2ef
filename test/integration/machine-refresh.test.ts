// Suspend and restore through the machine orchestrator (an in-process MachineService on a machine
// fixture's dirs, its drivers replaced where a test needs a guest that misbehaves): a restore
// counts as started only after the guest confirmed its clock and entropy refresh (real QEMU boot,
// walk's init); a restored guest that does not confirm is killed and the restore fails, leaving no
// VMM, sockets or snapshot; after a walkd restart the next one listens on the agent channel and
// the same works; machines that cannot be refreshed are neither suspended nor restored
// (Firecracker, through the stand-in; an init older than contract 2, played by a fake VMM).
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { loadConfig } from "../../src/daemon/config.js";
import { daemonPaths } from "../../src/daemon/paths.js";
import { IdempotencyRepository, ImageRepository, JobRepository, MachineRepository, openDatabase } from "../../src/store/index.js";
import { JobService } from "../../src/service/jobs.js";
import { ImageService } from "../../src/service/images.js";
import { MachineService, machinePaths } from "../../src/machine/index.js";
import { type VmBackend, type VmDriver, type VmExit, type VmHandle, type VmRecord, type VmState } from "../../src/vm/index.js";
import { QemuDriver } from "../../src/vm/qemu/index.js";
import { machineFixture, type MachineFixture } from "./machine-fixture.js";
import { rejectsWith } from "../harness/assert.js";

const COUNTER = '#!/bin/sh\ni=0\nwhile :; do i=$((i+1)); echo "n=$i t=$(date +%s)"; sleep 0.5; done\n';

interface InProcess {
  machines: MachineService;
  /** walkd's log lines, parsed. */
  log: Array<Record<string, unknown>>;
  paths: ReturnType<typeof daemonPaths>;
  /** Closes this service as a stopping walkd does (its VMs run on) and starts the next one, which reconciles. */
  restart(): Promise<MachineService>;
}

/** A MachineService of its own on the fixture's dirs (its walkd is stopped first: one per data dir). */
async function inProcess(t: TestContext, f: MachineFixture, drivers: Partial<Record<VmBackend, VmDriver>> = {}): Promise<InProcess> {
  await f.d.stop();
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: "info" }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const config = loadConfig({ flags: { dataDir: join(f.dir, "data"), runtimeDir: join(f.dir, "run"), config: join(f.dir, "walkd.toml") }, env: {} });
  const paths = daemonPaths(config.dataDir, config.runtimeDir);
  const db = openDatabase(paths.database);
  const jobs = new JobService(new JobRepository(db), log);
  const images = await ImageService.open({ repo: new ImageRepository(db), paths, registry: config.registry, jobs, log });
  const backend = config.machines.backends.backend as VmBackend;
  const service = (): MachineService =>
    new MachineService({ repo: new MachineRepository(db), idempotency: new IdempotencyRepository(db), images, jobs, paths, log, config: { ...config.machines, backend, defaultNetwork: "none" }, drivers });
  const it: InProcess = {
    machines: service(),
    log: lines,
    paths,
    restart: async () => {
      await it.machines.close();
      it.machines = service();
      await it.machines.reconcile();
      return it.machines;
    },
  };
  t.after(async () => {
    for (const m of it.machines.list({ all: true })) await it.machines.remove(m.id, { force: true }).catch(() => undefined);
    await it.machines.close();
    await jobs.shutdown();
    db.close();
    await f.d.close();
  });
  return it;
}

async function consoleOf(machines: MachineService, id: string): Promise<string> {
  let out = "";
  for await (const c of machines.logs(id)) out += c.toString("utf8");
  return out;
}
const counts = (text: string): Array<{ n: number; t: number }> => [...text.matchAll(/^n=(\d+) t=(\d+)$/gm)].map((m) => ({ n: Number(m[1]), t: Number(m[2]) }));

async function until(what: string, cond: () => Promise<boolean> | boolean, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** The QEMU driver, but with `hang.next` set the next restored VM is paused the moment it runs: a hung guest. */
function qemuWithHang(hang: { next: boolean }, pids: number[]): VmDriver {
  const real = new QemuDriver({ accel: "tcg" });
  return {
    backend: "qemu",
    attach: (spec, record) => real.attach(spec, record),
    create: (spec) => {
      const h = real.create(spec);
      const start = h.start.bind(h);
      h.start = async (opts) => {
        await start(opts);
        pids.push(h.pid!);
        if (opts?.restore && hang.next) {
          hang.next = false;
          await h.pause();
        }
      };
      return h;
    },
  };
}

test("QEMU: a restore counts as started once the guest confirmed the refresh; an unconfirmed one is killed and leaves nothing; after a walkd restart it works again", { timeout: 10 * 60_000 }, async (t) => {
  const f = await machineFixture({ backend: "qemu", script: COUNTER });
  const hang = { next: false };
  const pids: number[] = [];
  const walkd = await inProcess(t, f, { qemu: qemuWithHang(hang, pids) });
  const { log, paths } = walkd;
  let machines = walkd.machines;
  const m = await machines.create({ image: f.image, name: "counter", memory_mib: 128, network: "none", start: true });
  assert.equal(m.state, "started", m.last_error ?? "");
  const mp = machinePaths(paths.dataDir, paths.runtimeDir, m.id);
  const snapshotFiles = [join(mp.dataDir, "snapshot.json"), join(mp.dataDir, "snapshot.mem")];
  await until("the counter", async () => counts(await consoleOf(machines, m.id)).length >= 2);

  // Suspend, wait (the guest's clock stands still in the snapshot), restore.
  assert.equal((await machines.suspend(m.id)).state, "stopped");
  assert.ok(snapshotFiles.every((p) => existsSync(p)), "the snapshot was written");
  const atSuspend = counts(await consoleOf(machines, m.id)).at(-1)!;
  await sleep(4000);
  const restored = await machines.start(m.id, { restore: true });
  assert.equal(restored.state, "started");
  const from = (await consoleOf(machines, m.id)).length;
  assert.ok(snapshotFiles.every((p) => !existsSync(p)), "a restore consumes the snapshot");
  const refreshed = log.find((l) => l.msg === "restored guest: clock set and entropy reseeded");
  assert.ok(refreshed, "walkd logged the refresh");
  assert.equal(refreshed.machine, m.id);
  t.diagnostic(`restore ${String(refreshed.restore_ms)} ms, then the refresh round trip ${String(refreshed.refresh_ms)} ms`);
  // The second line after start() returned was computed after it: after the refresh.
  await until("the restored counter", async () => counts((await consoleOf(machines, m.id)).slice(from)).length >= 2);
  const [first, second] = counts((await consoleOf(machines, m.id)).slice(from));
  assert.ok(first!.n > atSuspend.n && first!.n <= atSuspend.n + 6, `the in-memory counter went on from ${atSuspend.n} (then ${first!.n})`);
  assert.ok(Math.abs(second!.t - Date.now() / 1000) <= 3, `the restored guest's clock (${second!.t}) is the host's, not the snapshot's (${atSuspend.t})`);

  // A guest that never answers: the VM is killed, the restore fails, nothing is left.
  await machines.suspend(m.id);
  hang.next = true;
  await rejectsWith(machines.start(m.id, { restore: true }), "timeout", /the restored guest did not confirm that its clock and entropy were refreshed, so its VM was killed: the init did not answer the refresh within 3000 ms/);
  const failed = machines.inspect(m.id);
  assert.equal(failed.state, "failed");
  assert.match(failed.last_error ?? "", /^start failed: the restored guest did not confirm/);
  assert.equal(failed.vm, null);
  assert.equal(existsSync(`/proc/${pids.at(-1)!}`), false, "the hung guest's QEMU is gone");
  assert.equal(existsSync(mp.agentSocket), false, "the agent socket is removed");
  assert.equal(existsSync(join(mp.runtimeDir, "qmp.sock")), false, "the QMP socket is removed");
  assert.ok(snapshotFiles.every((p) => !existsSync(p)), "the snapshot is used up: the guest ran, the disks moved on");
  assert.ok(log.some((l) => l.level === 40 && l.msg === "the restored guest did not refresh its clock and entropy; its VM was killed"));
  await rejectsWith(machines.start(m.id, { restore: true }), "not_found", /has no snapshot to restore/);

  // What the app layer does next: a boot, with fresh memory.
  const booted = await machines.start(m.id);
  assert.equal(booted.state, "started");
  await until("the rebooted counter", async () => {
    const raw = (await readFile(mp.consoleLog, "utf8")).replace(/\r\n/g, "\n");
    return /^n=1 /m.test(raw.slice(raw.lastIndexOf("WALK-HOST-BOOT")));
  });

  // After a walkd restart the next walkd listens on the agent channel again: suspend and resume work.
  machines = await walkd.restart();
  assert.equal(machines.inspect(m.id).state, "started", "re-attached");
  await machines.suspend(m.id);
  assert.equal((await machines.start(m.id, { restore: true })).state, "started");
  assert.equal(log.filter((l) => l.msg === "restored guest: clock set and entropy reseeded").length, 2);
});

test("Firecracker (stand-in): a machine is neither suspended nor restored, since its guest cannot be refreshed yet", async (t) => {
  const f = await machineFixture({ backend: "standin" });
  const { machines, paths } = await inProcess(t, f);
  const m = await machines.create({ image: f.image, name: "fc", memory_mib: 64, network: "none", start: true });
  assert.equal(m.state, "started", m.last_error ?? "");
  const mp = machinePaths(paths.dataDir, paths.runtimeDir, m.id);
  const snapshotFiles = [join(mp.dataDir, "snapshot.json"), join(mp.dataDir, "snapshot.mem")];
  await rejectsWith(machines.suspend(m.id), "unsupported", /runs on firecracker, where walk cannot yet refresh a restored guest's clock and entropy/);
  assert.equal(machines.inspect(m.id).state, "started", "refused before anything was done: it runs on");
  assert.ok(snapshotFiles.every((p) => !existsSync(p)), "no snapshot was taken");

  // A snapshot left by an earlier walkd is refused, removed, and the machine stays stopped.
  await machines.kill(m.id);
  for (const p of snapshotFiles) await writeFile(p, "{}");
  await rejectsWith(machines.start(m.id, { restore: true }), "unsupported", /not suspended or restored/);
  assert.equal(machines.inspect(m.id).state, "stopped");
  assert.ok(snapshotFiles.every((p) => !existsSync(p)), "the unusable snapshot is removed");
});

/** A stand-in for QEMU whose guest runs an init before contract 2: it says WALK-STARTED, never WALK-INIT. */
function oldInitDriver(): VmDriver {
  return {
    backend: "qemu",
    attach: () => Promise.reject(new Error("no re-attach in this test")),
    create: (spec): VmHandle => {
      let state: VmState = "new";
      let sock: Socket | undefined;
      let end: (e: VmExit) => void = () => undefined;
      const ended = new Promise<VmExit>((resolve) => (end = resolve));
      const record: VmRecord = { backend: "qemu", pid: process.pid, startTime: "0", controlSocket: join(spec.runtimeDir, "qmp.sock") };
      const kill = (): Promise<VmExit> => {
        sock?.destroy();
        state = "exited";
        end({ code: null, signal: "SIGKILL" });
        return ended;
      };
      return {
        backend: "qemu",
        spec,
        get state() {
          return state;
        },
        pid: process.pid,
        record,
        agentSocketPath: spec.agentChannel,
        start: async (opts) => {
          await opts?.onSpawned?.(record);
          sock = connect(spec.agentChannel!);
          sock.on("error", () => undefined);
          await new Promise<void>((resolve) => sock!.write("WALK-STARTED v1\n", () => resolve()));
          state = "running";
        },
        stop: kill,
        kill,
        wait: () => ended,
        pause: () => Promise.resolve(),
        resume: () => Promise.resolve(),
        snapshot: () => Promise.reject(new Error("a guest that cannot be refreshed must not be snapshotted")),
      };
    },
  };
}

test("an init older than contract 2 (heard starting without WALK-INIT v2) is not suspended", async (t) => {
  const f = await machineFixture({ backend: "qemu", script: COUNTER });
  const { machines } = await inProcess(t, f, { qemu: oldInitDriver() });
  const m = await machines.create({ image: f.image, name: "old", memory_mib: 64, network: "none", start: true });
  assert.equal(m.state, "started", m.last_error ?? "");
  // The fake wrote WALK-STARTED before start() returned; walkd reads it on its next turns.
  await sleep(300);
  await rejectsWith(machines.suspend(m.id), "unsupported", /guest init \(base .+\) predates contract 2 and cannot refresh its clock and entropy after a restore, so it is not suspended/);
  assert.equal(machines.inspect(m.id).state, "started");
});
