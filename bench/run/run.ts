// Benchmark: machines. In one run, against a walkd this script starts (own process, temp dirs,
// QEMU under TCG):
//   1. `walk run -d` (the CLI, as a user runs it) to the workload's first output, against a
//      hand-written qemu-system-x86_64 command line booting the same disks (hand-qemu.ts), runs
//      alternating; prints medians and the ratio walk/hand (goal <= 1.10);
//   2. start latency of 1 machine (those runs) and of N at once (median and max);
//   3. walkd's memory per idle machine (RSS growth over the N idle machines; QEMU's own RSS is
//      reported apart, it is the guest's cost, not walk's).
// The workload is busybox: `echo` a line, then exit (1) or sleep (2, 3). Everything it made is
// removed at the end, also after a failure or Ctrl-C; every wait is bounded.
//   node dist/bench/run/run.js [--runs 5] [--concurrent 10] [--memory 128]
// Not a test: it asserts only that the workloads printed and exited as expected.
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { importBase, resolveBase } from "../../src/base/index.js";
import { machineBootArgs } from "../../src/machine/index.js";
import { ensureStateDisk } from "../../src/machine/statedisk.js";
import { hostTscKhz } from "../../src/vm/qemu/index.js";
import type { MachineWire } from "../../src/api/machine-schemas.js";
import { writeOciLayout } from "../../test/fixtures/images.js";
import { runCli } from "../../test/harness/cli.js";
import { buildTestBase } from "../../test/harness/qemu.js";
import { buildScriptImage } from "../../test/integration/machine-fixture.js";
import { FirstOutputWatcher } from "./console-watch.js";
import { handBoot, type HandBoot } from "./hand-qemu.js";
import { cpuMsOf, reapedChildrenCpuMs, rssOf, startUptimeMsOf, uptimeMs, type Rss } from "./proc.js";
import { startWalkd, type BenchDaemon } from "./walkd.js";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    concurrent: { type: "string", default: "10" },
    memory: { type: "string", default: "128" },
  },
});
const RUNS = Number(values.runs);
const CONCURRENT = Number(values.concurrent);
const MEM_MIB = Number(values.memory);
for (const [flag, v, min] of [["--runs", RUNS, 1], ["--concurrent", CONCURRENT, 1], ["--memory", MEM_MIB, 32]] as const) {
  if (!Number.isInteger(v) || v < min) throw new Error(`${flag} must be a whole number >= ${min}`);
}
/** walk's default state disk size; the hand-run guest gets one made the same way. */
const DISK_MIB = 1024;
const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const QEMU = "/usr/bin/qemu-system-x86_64";
/** QEMU under TCG, machines without a NIC (the bench measures boots, not networking), defaults otherwise. */
const WALKD_CONFIG = '[machines]\nbackend = "qemu"\nnetwork = "none"\n\n[qemu]\naccel = "tcg"\n';
/** Bounds: one boot (TCG on a loaded 2-core host), one API call, the whole bench. */
const BOOT_MS = 180_000;
const CALL_MS = 30_000;
const BENCH_MS = 30 * 60_000;

// The marker is computed by the shell, so it appears on the console only when the workload runs
// (the script's text, on the app disk, never reaches the console).
const MARKER = "first-output-42";
const SCRIPT = '#!/bin/sh\necho "first-output-$((6*7))"\ncase "$1" in idle) exec sleep 1000000 ;; esac\n';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const max = (xs: number[]): number => Math.max(...xs);
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(" ");
const sec = (ms: number | undefined): string => (ms === undefined || Number.isNaN(ms) ? "-" : (ms / 1000).toFixed(2));
const latencyRow = (what: string, xs: number[]): void => console.log(`${what.padEnd(44)} median ${sec(median(xs)).padStart(6)} s   max ${sec(max(xs)).padStart(6)} s`);

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** `walk logs -f NAME` until the marker is on its stdout: performance.now() then, or undefined. */
function followLogs(socketPath: string, name: string, timeoutMs: number): Promise<number | undefined> {
  const cli = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, "--host", `unix://${socketPath}`, "logs", "-f", name], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    let at: number | undefined;
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (c: Buffer) => {
      if (at !== undefined) return;
      out = (out + c.toString("latin1")).slice(-4096);
      if (out.includes(MARKER)) {
        at = performance.now();
        child.kill("SIGTERM");
      }
    });
    child.on("error", () => resolve(undefined));
    child.on("close", () => {
      clearTimeout(timer);
      resolve(at);
    });
  });
}

interface Env {
  dir: string;
  walkd: BenchDaemon;
  watcher: FirstOutputWatcher;
  image: string;
  kernel: string;
  rootfs: string;
  /** walk's app disk of the echo-and-exit configuration. */
  appDisk: string;
  tscKhz: number;
}

interface WalkRun {
  /** From spawning `walk run -d`: its exit (the machine is started), started_at, QEMU's spawn, first output on the console, first output through `walk logs -f`. */
  cliMs: number;
  qemuSpawnMs: number | undefined;
  startedMs: number;
  firstMs: number;
  logsMs: number | undefined;
  cpu: { cli: number; walkd: number | undefined; qemu: number | undefined };
}

async function machineOf(env: Env, id: string): Promise<MachineWire> {
  return withTimeout(env.walkd.client.machine(id), CALL_MS, `inspect ${id}`);
}

async function walkRunDetached(env: Env, name: string, args: string[]): Promise<{ id: string; cliMs: number; t0: number; wall0: number; up0: number; cliCpu: number }> {
  const child0 = await reapedChildrenCpuMs();
  const up0 = await uptimeMs();
  const wall0 = Date.now();
  const t0 = performance.now();
  const r = await runCli(env.walkd.socketPath, ["run", "-d", "--net", "none", "--memory", `${MEM_MIB}M`, "--name", name, env.image, ...(args.length ? ["--", ...args] : [])], { timeoutMs: BOOT_MS });
  const cliMs = performance.now() - t0;
  if (r.code !== 0 || !/^[0-9a-f]{32}\n$/.test(r.stdout)) throw new Error(`walk run -d --name ${name} exited ${r.code}: ${r.stdout}${r.stderr}`);
  return { id: r.stdout.trim(), cliMs, t0, wall0, up0, cliCpu: (await reapedChildrenCpuMs()) - child0 };
}

async function walkBoot(env: Env, name: string): Promise<WalkRun> {
  const walkd0 = await cpuMsOf(env.walkd.pid);
  const run = await walkRunDetached(env, name, []);
  // What a user does next; it starts while the guest still boots.
  const logs = followLogs(env.walkd.socketPath, name, BOOT_MS);
  const pid = (await machineOf(env, run.id)).vm?.pid;
  const spawnedAt = pid === undefined ? undefined : await startUptimeMsOf(pid);
  const at = await env.watcher.firstOutput(run.id, BOOT_MS);
  const [walkd1, qemu] = await Promise.all([cpuMsOf(env.walkd.pid), pid === undefined ? undefined : cpuMsOf(pid)]);
  const logsAt = await logs;
  const end = await withTimeout(env.walkd.client.waitMachine(run.id, { timeoutS: BOOT_MS / 1000 }), BOOT_MS + CALL_MS, `wait for ${name}`);
  if (end.state !== "stopped" || end.exit_code !== 0) throw new Error(`${name} ended ${end.state} exit ${end.exit_code}: ${end.last_error ?? ""}`);
  await withTimeout(env.walkd.client.removeMachine(run.id, true), CALL_MS, `rm ${name}`);
  return {
    cliMs: run.cliMs,
    qemuSpawnMs: spawnedAt === undefined ? undefined : spawnedAt - run.up0,
    startedMs: Date.parse(end.started_at ?? "") - run.wall0,
    firstMs: at - run.t0,
    logsMs: logsAt === undefined ? undefined : logsAt - run.t0,
    cpu: { cli: run.cliCpu, walkd: walkd0 === undefined || walkd1 === undefined ? undefined : walkd1 - walkd0, qemu },
  };
}

async function handRun(env: Env, i: number): Promise<HandBoot & { mkfsMs: number }> {
  const state = join(env.dir, `hand-state-${i}.ext4`);
  const m0 = performance.now();
  await ensureStateDisk(state, DISK_MIB);
  const mkfsMs = performance.now() - m0;
  try {
    // The same length as walk's bench-w<i>: the command line differs from walk's in one letter.
    const bootArgs = `${machineBootArgs({ hostname: `bench-h${i}` })} tsc_early_khz=${env.tscKhz}`;
    const r = await handBoot({ qemu: QEMU, kernel: env.kernel, bootArgs, rootfs: env.rootfs, app: env.appDisk, state, memMib: MEM_MIB, marker: MARKER, timeoutMs: BOOT_MS });
    return { ...r, mkfsMs };
  } finally {
    await rm(state, { force: true });
  }
}

interface WalkdMemory {
  /** V8 heap in use plus memory held outside it (Buffers), after a full GC: what walkd keeps alive. */
  liveKib: number;
  rssKib: number;
  anonKib: number;
}

/** Medians of a few samples, each right after a full GC in walkd, 300 ms apart. */
async function walkdMemory(env: Env, samples = 5): Promise<WalkdMemory> {
  const got: WalkdMemory[] = [];
  for (let i = 0; i < samples; i++) {
    const m = await env.walkd.memory();
    const rss = await rssOf(env.walkd.pid);
    if (!rss) throw new Error("walkd is gone");
    got.push({ liveKib: (m.heapUsed + m.external) / 1024, rssKib: rss.rssKib, anonKib: rss.anonKib });
    await sleep(300);
  }
  return { liveKib: median(got.map((g) => g.liveKib)), rssKib: median(got.map((g) => g.rssKib)), anonKib: median(got.map((g) => g.anonKib)) };
}

/** The -append walk gave QEMU, from its command line, to check the hand-run guest gets the same. */
async function appendOf(pid: number): Promise<string | undefined> {
  const argv = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0");
  const i = argv.indexOf("-append");
  return i >= 0 ? argv[i + 1] : undefined;
}

/** The first `walk run` (pull, app disk build, boot), in the foreground; returns the app disk walk built. */
async function firstRun(walkd: BenchDaemon, image: string): Promise<string> {
  const t0 = performance.now();
  const r = await runCli(walkd.socketPath, ["run", "--net", "none", "--memory", `${MEM_MIB}M`, "--name", "warm-echo", image], { timeoutMs: BOOT_MS * 2 });
  if (r.code !== 0 || r.stdout !== `${MARKER}\n`) throw new Error(`the first walk run exited ${r.code}: ${r.stdout}${r.stderr}`);
  const echo = (await withTimeout(walkd.client.machines(true), CALL_MS, "list machines")).find((m) => m.name === "warm-echo");
  if (!echo) throw new Error("the first machine is missing");
  await withTimeout(walkd.client.removeMachine(echo.id, true), CALL_MS, "rm warm-echo");
  console.log(`warm-up: first walk run (pull, app disk build, boot, exit) ${sec(performance.now() - t0)} s`);
  return echo.app_disk.path;
}

/**
 * Builds the idle configuration's app disk now, so the concurrent start does not, and checks on
 * its QEMU that the hand-written guest gets exactly walk's kernel command line.
 */
async function idleWarmUp(env: Env): Promise<void> {
  const idle = await walkRunDetached(env, "warm-idle", ["idle"]);
  await env.watcher.firstOutput(idle.id, BOOT_MS);
  const pid = (await machineOf(env, idle.id)).vm?.pid;
  const walkAppend = pid === undefined ? undefined : await appendOf(pid);
  const handAppend = `${machineBootArgs({ hostname: "warm-idle" })} tsc_early_khz=${env.tscKhz}`;
  if (walkAppend !== handAppend) throw new Error(`the hand-written kernel command line differs from walk's:\n walk: ${walkAppend}\n hand: ${handAppend}`);
  await withTimeout(env.walkd.client.removeMachine(idle.id, true), CALL_MS, "rm warm-idle");
}

/** The CLI's own floor: `walk version` is node's start-up, the CLI's modules and one API call. */
async function cliFloor(env: Env): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const r = await runCli(env.walkd.socketPath, ["version"], { timeoutMs: CALL_MS });
    if (r.code !== 0) throw new Error(`walk version exited ${r.code}: ${r.stderr}`);
    times.push(performance.now() - t0);
  }
  return median(times);
}

async function bootComparison(env: Env): Promise<WalkRun[]> {
  console.log(`\n== 1. walk run -d vs hand-written QEMU, ${RUNS} runs each, alternating; load ${load()}`);
  console.log("seconds from spawning `walk run -d` (walk) or qemu-system-x86_64 (hand); qemu-spawn has 20 ms resolution");
  console.log("run who   first-output  logs-f  qemu-spawn  started  cli-exit  |  cpu: cli  walkd  qemu");
  const walk: WalkRun[] = [];
  const hand: Array<HandBoot & { mkfsMs: number }> = [];
  for (let i = 0; i < RUNS; i++) {
    const order = i % 2 === 0 ? (["walk", "hand"] as const) : (["hand", "walk"] as const);
    for (const who of order) {
      if (who === "walk") {
        const w = await walkBoot(env, `bench-w${i}`);
        walk.push(w);
        console.log(`${String(i + 1).padStart(3)} walk  ${sec(w.firstMs).padStart(12)}  ${sec(w.logsMs).padStart(6)}  ${sec(w.qemuSpawnMs).padStart(10)}  ${sec(w.startedMs).padStart(7)}  ${sec(w.cliMs).padStart(8)}  |       ${sec(w.cpu.cli)}  ${sec(w.cpu.walkd)}  ${sec(w.cpu.qemu)}`);
      } else {
        const h = await handRun(env, i);
        hand.push(h);
        console.log(`${String(i + 1).padStart(3)} hand  ${sec(h.firstOutputMs).padStart(12)}       -        0.00        -         -  |          -     -  ${sec(h.qemuCpuMs)}   (state disk mkfs before spawn ${sec(h.mkfsMs)})`);
      }
    }
  }
  const wFirst = median(walk.map((w) => w.firstMs));
  const logs = walk.flatMap((w) => (w.logsMs === undefined ? [] : [w.logsMs]));
  const wLogs = logs.length ? median(logs) : NaN;
  const hFirst = median(hand.map((h) => h.firstOutputMs));
  const wCpu = median(walk.map((w) => w.cpu.cli + (w.cpu.walkd ?? NaN) + (w.cpu.qemu ?? NaN)));
  const wQemuCpu = median(walk.map((w) => w.cpu.qemu ?? NaN));
  const hCpu = median(hand.map((h) => h.qemuCpuMs ?? NaN));
  console.log(`median to first output: walk ${sec(wFirst)} s (console), ${sec(wLogs)} s (walk logs -f); hand ${sec(hFirst)} s (pipe)`);
  console.log(`ratio walk/hand: ${(wFirst / hFirst).toFixed(2)} at the console (goal <= 1.10), ${(wLogs / hFirst).toFixed(2)} as walk logs -f shows it`);
  const spawned = walk.flatMap((w) => (w.qemuSpawnMs === undefined ? [] : [{ before: w.qemuSpawnMs, boot: w.firstMs - w.qemuSpawnMs }]));
  if (spawned.length > 0) {
    const boot = median(spawned.map((s) => s.boot));
    console.log(`walk's split (medians): ${sec(median(spawned.map((s) => s.before)))} s to QEMU's spawn (CLI start, API, create, state disk), then ${sec(boot)} s QEMU spawn to first output (hand ${sec(hFirst)}: ratio ${(boot / hFirst).toFixed(2)})`);
    console.log(`the CLI's floor, \`walk version\` (node start-up, the CLI's modules, one API call), median of ${RUNS}: ${sec(await cliFloor(env))} s`);
  }
  console.log(`median cpu to first output: walk ${sec(wCpu)} s (cli + walkd + qemu; qemu alone ${sec(wQemuCpu)}), hand ${sec(hCpu)} s (qemu), ratio ${(wCpu / hCpu).toFixed(2)}`);
  console.log(`hand: median mkfs of a fresh ${DISK_MIB} MiB state disk, before its spawn: ${sec(median(hand.map((h) => h.mkfsMs)))} s (walk does the same inside its start); load ${load()}`);
  return walk;
}

async function concurrentStart(env: Env): Promise<MachineWire[]> {
  console.log(`\n== 2. start latency: ${CONCURRENT} at once (walk run -d each, idle workload); load ${load()}`);
  const t0 = performance.now();
  const wall0 = Date.now();
  const runs = await Promise.all(
    Array.from({ length: CONCURRENT }, async (_, i) => {
      const r = await walkRunDetached(env, `bench-c${i}`, ["idle"]);
      const at = await env.watcher.firstOutput(r.id, BOOT_MS);
      return { id: r.id, cliMs: r.t0 - t0 + r.cliMs, firstMs: at - t0 };
    }),
  );
  const machines = await Promise.all(runs.map((r) => machineOf(env, r.id)));
  const started = machines.map((m) => Date.parse(m.started_at ?? "") - wall0);
  latencyRow(`${CONCURRENT} at once: walk run -d returned`, runs.map((r) => r.cliMs));
  latencyRow(`${CONCURRENT} at once: started (started_at)`, started);
  latencyRow(`${CONCURRENT} at once: first output on the console`, runs.map((r) => r.firstMs));
  console.log(`load ${load()}`);
  return machines;
}

async function memory(env: Env, before: WalkdMemory, machines: MachineWire[]): Promise<void> {
  console.log(`\n== 3. host memory per idle machine (${machines.length} idle machines, each ${MEM_MIB} MiB, sleeping); walkd measured after a full GC`);
  // Past the start: many console polls per machine.
  await sleep(5000);
  const after = await walkdMemory(env);
  const qemu: Rss[] = [];
  for (const m of machines) {
    const r = m.vm ? await rssOf(m.vm.pid) : undefined;
    if (r) qemu.push(r);
  }
  const n = machines.length;
  const line = (what: string, a: number, b: number): void =>
    console.log(`${what.padEnd(36)} ${(a / 1024).toFixed(1).padStart(6)} MiB with none -> ${(b / 1024).toFixed(1).padStart(6)} MiB with ${n}: ${((b - a) / n).toFixed(0).padStart(5)} KiB per machine`);
  line("walkd live JS (heap used + external)", before.liveKib, after.liveKib);
  line("walkd VmRSS", before.rssKib, after.rssKib);
  line("walkd RssAnon", before.anonKib, after.anonKib);
  console.log(`for context, not walk's share: QEMU RSS per machine median ${(median(qemu.map((q) => q.rssKib)) / 1024).toFixed(1)} MiB (anon ${(median(qemu.map((q) => q.anonKib)) / 1024).toFixed(1)} MiB), over ${qemu.length}`);
  console.log("walk runs no other host process per machine (no shim, no log copier): walkd reads each console file itself");
}

let cleaning: Promise<void> | undefined;

async function cleanup(dir: string, walkd: BenchDaemon | undefined, watcher: FirstOutputWatcher | undefined): Promise<void> {
  watcher?.close();
  if (walkd) {
    const all = await withTimeout(walkd.client.machines(true), CALL_MS, "list machines").catch(() => [] as MachineWire[]);
    await Promise.all(all.filter((m) => m.state !== "destroyed").map((m) => withTimeout(walkd.client.removeMachine(m.id, true), CALL_MS, `rm ${m.name}`).catch((e: unknown) => console.error(`cleanup: ${(e as Error).message}`))));
    await walkd.close();
  }
  await rm(dir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "walk-bench-run-"));
  let walkd: BenchDaemon | undefined;
  let watcher: FirstOutputWatcher | undefined;
  const finish = (): Promise<void> => (cleaning ??= cleanup(dir, walkd, watcher));
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      console.error(`\n${sig}: cleaning up`);
      void finish().finally(() => process.exit(130));
    });
  }
  const watchdog = setTimeout(() => {
    console.error(`the bench did not finish within ${BENCH_MS / 60_000} min: cleaning up`);
    void finish().finally(() => process.exit(1));
  }, BENCH_MS);
  watchdog.unref();
  try {
    console.log(`bench/run: QEMU TCG, ${MEM_MIB} MiB guests, 1 vCPU, ${DISK_MIB} MiB state disks; load average ${load()}`);
    const built = await buildTestBase(REPO_ROOT, join(dir, "base-build"));
    await importBase(join(dir, "data"), { kernel: built.kernel, rootfs: built.rootfs });
    const base = await resolveBase(join(dir, "data"));
    if (!base.paths.vmlinux) throw new Error("the guest base has no vmlinux");
    const layout = join(dir, "layout");
    await writeOciLayout(layout, [{ image: await buildScriptImage(SCRIPT), tag: "v1" }]);
    walkd = await startWalkd(dir, { config: WALKD_CONFIG, netns: ["unshare", "--net"] });
    const image = `oci:${layout}:v1`;
    const appDisk = await firstRun(walkd, image);
    // DATA/machines exists from the first machine on.
    watcher = new FirstOutputWatcher(join(dir, "data", "machines"), MARKER);
    const env: Env = { dir, walkd, watcher, image, kernel: base.paths.vmlinux, rootfs: base.paths.rootfs, appDisk, tscKhz: hostTscKhz() };
    await idleWarmUp(env);
    const single = await bootComparison(env);
    console.log(`\n== 2. start latency: 1 machine (the ${single.length} walk runs above)`);
    latencyRow("1 machine: walk run -d returned", single.map((w) => w.cliMs));
    latencyRow("1 machine: started (started_at)", single.map((w) => w.startedMs));
    latencyRow("1 machine: first output on the console", single.map((w) => w.firstMs));
    const before = await walkdMemory(env);
    const machines = await concurrentStart(env);
    await memory(env, before, machines);
    console.log(`\nload average at the end ${load()}`);
  } catch (err) {
    if (walkd) console.error(`walkd's log ends:\n${await walkd.logTail()}`);
    throw err;
  } finally {
    clearTimeout(watchdog);
    await finish();
  }
}

await main();
