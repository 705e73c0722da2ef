// The machine commands of the real `walk` binary against walkd with the Firecracker stand-in:
// ps, inspect, wait (exit code, state, timeout), kill, restart, logs --since, and their errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "../harness/cli.js";
import type { MachineWire } from "../../src/api/machine-schemas.js";
import { machineFixture } from "./machine-fixture.js";

test("ps, inspect, wait, kill, restart and logs through the CLI", async (t) => {
  const f = await machineFixture({ backend: "standin" });
  t.after(async () => {
    for (const m of await f.d.client.machines(true).catch(() => [] as MachineWire[])) await f.d.client.removeMachine(m.id, true).catch(() => undefined);
    await f.d.close();
  });
  const walk = (...args: string[]) => runCli(f.d.daemon.socketPath, args, { timeoutMs: 120_000 });

  await f.simulate([42]);
  const run = await walk("run", "-d", "--memory", "64M", "--disk", "32M", "--cpus", "1", "--name", "job", f.image);
  assert.equal(run.code, 0, run.stderr);
  const id = run.stdout.trim();
  const waited = await walk("wait", "--timeout", "60", "job");
  assert.deepEqual([waited.code, waited.stdout], [42, "42\n"]);
  const logs = await walk("logs", "job");
  assert.ok(logs.stdout.startsWith(`[    0.000000] Linux version stand-in (walk Firecracker stand-in ${id})\n`), logs.stdout);
  assert.match(logs.stdout, /\nworkload output of boot 0\n$/);
  assert.equal((await walk("logs", "--since", "1h", "job")).stdout, logs.stdout, "everything is newer than an hour");
  assert.equal((await walk("logs", "--since", "2999-01-01T00:00:00Z", "job")).stdout, "");
  const badSince = await walk("logs", "--since", "yesterday", "job");
  assert.equal(badSince.code, 1);
  assert.match(badSince.stderr, /since must be an RFC 3339 time .* or a duration like 30s/);

  const inspect = await walk("inspect", "job");
  assert.match(inspect.stdout, new RegExp(`^ID: +${id}\nName: +job\nState: +stopped\n`));
  assert.match(inspect.stdout, /Resources: +1 vCPU, 64 MiB memory, 32 MiB state disk\n/);
  assert.match(inspect.stdout, /Exit: +code 42\n/);
  const all = JSON.parse((await walk("ps", "-a", "--json")).stdout) as MachineWire[];
  assert.deepEqual(all.map((m) => [m.name, m.state, m.exit_code]), [["job", "stopped", 42]]);
  assert.equal((await walk("ps")).stdout, "ID  NAME  IMAGE  STATE  UPTIME  EXIT  BACKEND\n", "nothing running");

  await f.simulate(["hang"]);
  assert.equal((await walk("start", "job")).stdout, "job\n");
  const ps = await walk("ps");
  assert.match(ps.stdout, new RegExp(`^ID +NAME +IMAGE +STATE +UPTIME +EXIT +BACKEND\n${id.slice(0, 12)}  job +oci:\\S+:v1  started  \\d+ seconds +- +firecracker\n$`));
  const timedOut = await walk("wait", "--timeout", "0", "job");
  assert.equal(timedOut.code, 1);
  assert.match(timedOut.stderr, /machine job did not reach exited within 0 s \(it is started\)/);
  assert.equal((await walk("wait", "--state", "started", "job")).stdout, "started\n");
  const pidBefore = (await f.d.client.machine(id)).vm!.pid;
  assert.equal((await walk("restart", "-t", "5", "job")).code, 0);
  const restarted = await f.d.client.machine(id);
  assert.equal(restarted.state, "started");
  assert.notEqual(restarted.vm!.pid, pidBefore);
  assert.equal((await walk("kill", "job")).code, 0);
  const killed = await f.d.client.machine(id);
  assert.deepEqual([killed.state, killed.last_error, killed.vm], ["stopped", null, null], "a requested kill is not a failure");

  const badMem = await walk("run", "-d", "--memory", "lots", f.image);
  assert.equal(badMem.code, 1);
  assert.match(badMem.stderr, /--memory must be a size in whole MiB such as 256M/);
  const badRestart = await walk("run", "-d", "--restart", "sometimes", f.image);
  assert.match(badRestart.stderr, /restart policy "sometimes" is not one of/);
  assert.equal((await walk("rm", "job")).stdout, "job\n");
  const gone = await walk("inspect", "job");
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /no machine "job"/);
});
