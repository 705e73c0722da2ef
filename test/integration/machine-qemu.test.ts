// Real boots under QEMU TCG through the real CLI and walkd: `walk run` of an image from a local
// registry prints the workload's output and exits with its code; -d then logs -f, stop, start
// (the state disk keeps a file) and rm; on-failure against a workload that fails twice (it counts
// its runs on the state disk); a walkd restart while a machine runs. Every boot is bounded.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startRegistry, type RunningRegistry } from "../harness/registry.js";
import { runCli } from "../harness/cli.js";
import { buildScriptImage, machineFixture, type MachineFixture } from "./machine-fixture.js";
import { isSameProcessAlive } from "../../src/vm/index.js";
import type { MachineWire } from "../../src/api/machine-schemas.js";

const SCRIPT = [
  "#!/bin/sh",
  "n=$(cat /count 2>/dev/null || echo 0); n=$((n+1)); echo $n > /count; sync",
  'echo "hello from $(hostname) run $n"',
  'case "$1" in',
  '  fail-twice) if [ "$n" -le 2 ]; then echo "failing run $n" >&2; exit 1; fi; exit 0 ;;',
  "  serve) while true; do sleep 1; done ;;",
  '  fail-twice-serve) if [ "$n" -le 2 ]; then exit 1; fi; while true; do sleep 1; done ;;',
  '  *) exit "${1:-0}" ;;',
  "esac",
  "",
].join("\n");

let f: MachineFixture;
let registry: RunningRegistry;
let ref: string;
const BOOT_MS = 180_000;

before(async () => {
  f = await machineFixture({ backend: "qemu", script: SCRIPT });
  registry = await startRegistry({ mode: "plain" });
  await registry.push("walk/app", "1", f.built);
  ref = `${registry.host}/walk/app:1`;
});

after(async () => {
  for (const m of await f.d.client.machines(true).catch(() => [] as MachineWire[])) await f.d.client.removeMachine(m.id, true).catch(() => undefined);
  await f.d.close();
  await registry.stop();
});

const walk = (...args: string[]) => runCli(f.d.daemon.socketPath, args, { timeoutMs: BOOT_MS });

test("walk run prints the workload's output and exits with its code (0, 1, 42)", async () => {
  for (const code of [0, 1, 42]) {
    const t0 = Date.now();
    const r = await walk("run", "--memory", "128M", "--name", `exit-${code}`, ref, "--", String(code));
    assert.equal(r.code, code, r.stderr);
    assert.equal(r.stdout, `hello from exit-${code} run 1\n`, `stdout of exit ${code}; stderr: ${r.stderr}`);
    console.log(`# walk run (exit ${code}): ${Date.now() - t0} ms from the CLI's start to its exit`);
  }
});

test("run -d, logs -f, stop, start (the state disk keeps the workload's file), rm", async () => {
  const d = await walk("run", "-d", "--memory", "128M", "--name", "svc", ref, "--", "serve");
  assert.equal(d.code, 0, d.stderr);
  const id = d.stdout.trim();
  assert.match(id, /^[0-9a-f]{32}$/);
  // logs -f follows until the machine stops; stop it once its first line is out.
  const follow = walk("logs", "-f", "svc");
  await f.d.client.waitMachine(id, { state: "started", timeoutS: 60 });
  for (let i = 0; i < 600 && !/run 1/.test(await logsOf(id)); i++) await new Promise((r) => setTimeout(r, 100));
  const stop = await walk("stop", "--timeout", "20", "svc");
  assert.equal(stop.code, 0, stop.stderr);
  const followed = await follow;
  assert.equal(followed.code, 0, followed.stderr);
  assert.equal(followed.stdout, "hello from svc run 1\n");
  const stopped = await f.d.client.machine(id);
  assert.equal(stopped.state, "stopped");
  assert.equal(stopped.exit_signal, 15, "the init forwarded the stop as SIGTERM");

  assert.equal((await walk("start", "svc")).code, 0);
  for (let i = 0; i < 600 && !/run 2/.test(await logsOf(id)); i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(await logsOf(id), /hello from svc run 1\nhello from svc run 2\n/, "the count survived on the state disk");
  const ps = await walk("ps");
  assert.match(ps.stdout, /^ID +NAME +IMAGE +STATE +UPTIME +EXIT +BACKEND\n[0-9a-f]{12} +svc +\S+walk\/app:1 +started .* qemu\n$/);
  const refused = await walk("rm", "svc");
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /svc is started; stop it first or remove it with -f/);
  assert.equal((await walk("rm", "-f", "svc")).code, 0);
  assert.equal((await walk("ps", "-a", "--json")).stdout.includes(id), false);
});

test("on-failure restarts a workload that fails twice, then it succeeds", async () => {
  const r = await walk("run", "--memory", "128M", "--name", "flaky", "--restart", "on-failure", ref, "--", "fail-twice");
  assert.equal(r.code, 0, r.stderr);
  // The console carries the workload's stdout and stderr as one stream, across the restarts.
  assert.equal(r.stdout, "hello from flaky run 1\nfailing run 1\nhello from flaky run 2\nfailing run 2\nhello from flaky run 3\n");
  const m = await f.d.client.machine("flaky");
  assert.equal(m.restart.count, 2);
  assert.equal(m.exit_code, 0);
});

test("a walkd restart leaves a running machine running and controllable", async () => {
  const m = await f.d.client.createMachine({ image: ref, name: "durable", memory_mib: 128, cmd: ["serve"], start: true });
  assert.equal(m.state, "started", m.last_error ?? "");
  // Once the workload runs: a stop request that arrives while the guest is still booting is lost
  // (the init is not listening yet) and ends in the kill after the timeout.
  for (let i = 0; i < 600 && !/run 1/.test(await logsOf(m.id)); i++) await new Promise((r) => setTimeout(r, 100));
  await f.d.stop();
  assert.ok(await isSameProcessAlive(m.vm!.pid, m.vm!.start_time), "QEMU outlived walkd");
  f.d = await f.restartDaemon();
  const again = await f.d.client.machine("durable");
  assert.equal(again.state, "started");
  assert.deepEqual(again.vm, m.vm);
  const stopped = await f.d.client.machineAction("durable", "stop", 20);
  assert.equal(stopped.state, "stopped");
  assert.equal(stopped.exit_signal, 15, "a graceful stop through the re-attached VMM");
  assert.equal(stopped.vm, null);
  assert.equal(await isSameProcessAlive(m.vm!.pid, m.vm!.start_time), false, "stopped through the new walkd");
  assert.equal((await f.d.client.machineAction("durable", "start")).state, "started");
  await f.d.client.removeMachine("durable", true);
});

test("ten machines started at once all run to completion", async () => {
  const t0 = Date.now();
  const ms = await Promise.all(Array.from({ length: 10 }, (_, i) => f.d.client.createMachine({ image: ref, name: `many-${i}`, memory_mib: 48, cmd: [String(i)], start: true })));
  const done = await Promise.all(ms.map((m) => f.d.client.waitMachine(m.id, { timeoutS: 170 })));
  console.log(`# ten concurrent machines: ${Date.now() - t0} ms from the first create to the last exit`);
  assert.deepEqual(done.map((m) => [m.state, m.exit_code]), Array.from({ length: 10 }, (_, i) => ["stopped", i]));
  for (const m of ms) await f.d.client.removeMachine(m.id);
});

test("each restart policy against a workload that fails twice: no, on-failure:1, always", async () => {
  const no = await f.d.client.createMachine({ image: ref, name: "pol-no", memory_mib: 64, cmd: ["fail-twice"], restart: "no", start: true });
  const limited = await f.d.client.createMachine({ image: ref, name: "pol-limited", memory_mib: 64, cmd: ["fail-twice"], restart: "on-failure:1", start: true });
  const always = await f.d.client.createMachine({ image: ref, name: "pol-always", memory_mib: 64, cmd: ["fail-twice-serve"], restart: "always", start: true });
  const [a, b] = await Promise.all([f.d.client.waitMachine(no.id, { timeoutS: 170 }), f.d.client.waitMachine(limited.id, { timeoutS: 170 })]);
  assert.deepEqual([a.state, a.exit_code, a.restart.count], ["stopped", 1, 0]);
  assert.deepEqual([b.state, b.exit_code, b.restart.count], ["stopped", 1, 1]);
  let c = await f.d.client.machine(always.id);
  for (let i = 0; i < 1700 && !(c.state === "started" && c.restart.count === 2 && /run 3/.test(await logsOf(always.id))); i++) {
    await new Promise((r) => setTimeout(r, 100));
    c = await f.d.client.machine(always.id);
  }
  assert.deepEqual([c.state, c.restart.count], ["started", 2], "always restarted it twice; the third run serves");
  const stopped = await f.d.client.machineAction(always.id, "stop", 20);
  assert.deepEqual([stopped.state, stopped.exit_signal, stopped.restart.pending_at], ["stopped", 15, null], "a requested stop is final");
  for (const m of [no, limited, always]) await f.d.client.removeMachine(m.id);
});

test("kill -9 of QEMU is a crash: the machine fails and on-failure restarts it", async () => {
  const m = await f.d.client.createMachine({ image: ref, name: "crashy", memory_mib: 64, cmd: ["serve"], restart: "on-failure:1", start: true });
  process.kill(m.vm!.pid, "SIGKILL");
  let now = await f.d.client.machine(m.id);
  for (let i = 0; i < 1700 && !(now.state === "started" && now.restart.count === 1); i++) {
    await new Promise((r) => setTimeout(r, 100));
    now = await f.d.client.machine(m.id);
  }
  assert.deepEqual([now.state, now.restart.count], ["started", 1]);
  assert.notEqual(now.vm?.pid, m.vm!.pid);
  await f.d.client.removeMachine(m.id, true);
});

test("Ctrl-C on walk run stops the machine gracefully and walk exits with 128+SIGTERM", async () => {
  const cli = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
  const child = spawn(process.execPath, [cli, "--host", `unix://${f.d.daemon.socketPath}`, "run", "--memory", "64M", "--name", "interrupted", ref, "--", "serve"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  const killer = setTimeout(() => child.kill("SIGKILL"), BOOT_MS);
  for (let i = 0; i < 1700 && !/run 1/.test(out); i++) await new Promise((r) => setTimeout(r, 100));
  child.kill("SIGINT");
  const code = await exited;
  clearTimeout(killer);
  assert.equal(code, 143, err);
  assert.equal(out, "hello from interrupted run 1\n");
  assert.match(err, /stopping interrupted \(Ctrl-C again to kill it\)/);
  const m = await f.d.client.machine("interrupted");
  assert.deepEqual([m.state, m.exit_signal], ["stopped", 15]);
  await f.d.client.removeMachine(m.id);
});

test("a stop requested while the guest is still booting is still graceful (the request is repeated)", async () => {
  const m = await f.d.client.createMachine({ image: ref, name: "early-stop", memory_mib: 64, cmd: ["serve"], start: true });
  const stopped = await f.d.client.machineAction(m.id, "stop", 30);
  assert.equal(stopped.state, "stopped");
  // Killed VMs report nothing; a graceful stop always ends with the init's status.
  assert.ok(stopped.exit_signal !== null || stopped.exit_code !== null, `the init reported a status (last error: ${stopped.last_error})`);
  await f.d.client.removeMachine(m.id);
});

test("the image's StopSignal is what a stop delivers to the workload", async () => {
  const image = await buildScriptImage('#!/bin/sh\necho ready\nwhile true; do sleep 1; done\n', { StopSignal: "SIGINT" });
  await registry.push("walk/stopsig", "1", image);
  const m = await f.d.client.createMachine({ image: `${registry.host}/walk/stopsig:1`, name: "stopsig", memory_mib: 64, start: true });
  for (let i = 0; i < 600 && !/ready/.test(await logsOf(m.id)); i++) await new Promise((r) => setTimeout(r, 100));
  const stopped = await f.d.client.machineAction(m.id, "stop", 30);
  assert.deepEqual([stopped.state, stopped.exit_signal], ["stopped", 2], "SIGINT, not SIGTERM");
  await f.d.client.removeMachine(m.id);
});

async function logsOf(id: string): Promise<string> {
  let out = "";
  for await (const c of f.d.client.machineLogs(id)) out += c.toString("utf8");
  return out;
}
