// Machine lifecycle through walkd's API with the Firecracker stand-in as the VMM (no guest: a hook
// plays the init's part on the console, see machine-fixture.ts): transitions persisted, idempotent
// start and stop, exit codes from the status report, restart policies with backoff, kill -9 of the
// VMM, rm, bad input with nothing left behind, and Idempotency-Key semantics.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { mkdir, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { isWalkError } from "../../src/lib/index.js";
import { isSameProcessAlive } from "../../src/vm/index.js";
import type { MachineWire } from "../../src/api/machine-schemas.js";
import type { WalkClient } from "../../src/cli/client.js";
import { machineFixture, type MachineFixture } from "./machine-fixture.js";

async function fixture(t: TestContext): Promise<MachineFixture> {
  const f = await machineFixture({ backend: "standin" });
  t.after(async () => {
    for (const m of await f.d.client.machines(true).catch(() => [] as MachineWire[])) await f.d.client.removeMachine(m.id, true).catch(() => undefined);
    await f.d.close();
  });
  return f;
}

const rejectsWith = async (p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> => {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isWalkError(e), String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
};

/** Pids whose command line contains `text` (a VMM is spawned with `--id <machine id>`). */
async function processesMentioning(text: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, "latin1").catch(() => "");
    if (cmd.includes(text)) found.push(Number(name));
  }
  return found;
}

async function logsOf(c: WalkClient, ref: string): Promise<string> {
  let out = "";
  for await (const chunk of c.machineLogs(ref)) out += chunk.toString("utf8");
  return out;
}

test("create, start, stop and rm: each state persisted; start and stop are idempotent; the state disk is kept across restarts", async (t) => {
  const f = await fixture(t);
  const c = f.d.client;
  const created = await c.createMachine({ image: f.image, name: "web", memory_mib: 64, disk_mib: 32 });
  assert.equal(created.state, "created");
  assert.equal(created.backend, "firecracker");
  assert.equal(created.vm, null);
  assert.match(created.id, /^[0-9a-f]{32}$/);
  assert.equal(created.paths.runtime_dir, join(f.dir, "run", "machines", created.id));
  assert.equal(created.paths.state_disk, join(f.dir, "data", "machines", created.id, "state.ext4"));
  await rejectsWith(c.createMachine({ image: f.image, name: "web" }), "already_exists", /a machine named web already exists/);

  const started = await c.machineAction("web", "start");
  assert.equal(started.state, "started");
  assert.ok(started.vm && (await isSameProcessAlive(started.vm.pid, started.vm.start_time)), "the VMM runs");
  assert.ok(started.started_at);
  const disk = statSync(started.paths.state_disk);
  assert.ok(disk.isFile() && disk.size === 32 * 1024 * 1024, "a sparse 32 MiB state disk");
  const again = await c.machineAction(created.id.slice(0, 8), "start");
  assert.deepEqual(again.vm, started.vm, "starting a started machine is a no-op");

  const listed = await c.machines();
  assert.deepEqual(listed.map((m) => m.name), ["web"]);
  await rejectsWith(c.removeMachine("web"), "conflict", /web is started; stop it first or remove it with -f/);

  const stopped = await c.machineAction("web", "stop", 5);
  assert.equal(stopped.state, "stopped");
  assert.equal(stopped.vm, null);
  assert.equal(await isSameProcessAlive(started.vm.pid, started.vm.start_time), false);
  assert.equal(existsSync(join(started.paths.runtime_dir, "firecracker.sock")), false, "API socket removed");
  assert.equal((await c.machineAction("web", "stop")).state, "stopped", "stopping a stopped machine is a no-op");
  assert.deepEqual(await c.machines(), [], "ps without -a shows running machines only");
  assert.equal((await c.machines(true)).length, 1);

  const restarted = await c.machineAction("web", "start");
  assert.equal(restarted.state, "started");
  assert.notEqual(restarted.vm?.pid, started.vm.pid);
  assert.equal(statSync(restarted.paths.state_disk).ino, disk.ino, "the same state disk");

  const gone = await c.removeMachine("web", true);
  assert.equal(gone.state, "destroyed");
  assert.equal(await isSameProcessAlive(restarted.vm!.pid, restarted.vm!.start_time), false, "rm -f killed the VMM");
  assert.equal(existsSync(join(f.dir, "data", "machines", created.id)), false, "state disk and logs removed");
  assert.equal(existsSync(created.paths.runtime_dir), false);
  await rejectsWith(c.machineAction(created.id, "start"), "conflict", /was removed; create a new one/);
  await rejectsWith(c.machine("web"), "not_found", /no machine "web"/);
  assert.equal((await c.removeMachine(created.id)).state, "destroyed", "removing a removed machine is consistent");
  assert.equal((await c.createMachine({ image: f.image, name: "web" })).state, "created", "the name is free again");
});

test("the workload's exit code comes from the status report, which logs do not show", async (t) => {
  const f = await fixture(t);
  const c = f.d.client;
  await f.simulate([42]);
  const m = await c.createMachine({ image: f.image, start: true, memory_mib: 64 });
  assert.match(m.name, /^layout-[0-9a-f]{4}$/, "a generated name");
  const done = await c.waitMachine(m.id, { timeoutS: 60 });
  assert.equal(done.state, "stopped");
  assert.equal(done.exit_code, 42);
  assert.equal(done.restart.count, 0);
  const logs = await logsOf(c, m.id);
  assert.match(logs, /workload output of boot 0\n/);
  assert.doesNotMatch(logs, /WALK-STATUS|WALK-HOST-BOOT|\r/);
});

test("on-failure restarts a failing workload with backoff until it succeeds; on-failure:1 gives up; no does not restart", async (t) => {
  const f = await fixture(t);
  const c = f.d.client;
  await f.simulate([1, 1, 0]);
  const m = await c.createMachine({ image: f.image, restart: "on-failure", start: true, memory_mib: 64 });
  const done = await c.waitMachine(m.id, { timeoutS: 120 });
  assert.equal(done.exit_code, 0);
  assert.equal(done.restart.count, 2);
  assert.equal(done.restart.pending_at, null);
  assert.equal(await f.boots(), 3);
  const logs = await logsOf(c, m.id);
  assert.deepEqual(logs.match(/workload output of boot \d/g), ["workload output of boot 0", "workload output of boot 1", "workload output of boot 2"]);

  await f.simulate([1]);
  const limited = await c.createMachine({ image: f.image, restart: "on-failure:1", start: true, memory_mib: 64 });
  const gaveUp = await c.waitMachine(limited.id, { timeoutS: 120 });
  assert.equal(gaveUp.exit_code, 1);
  assert.equal(gaveUp.restart.count, 1);
  assert.equal(gaveUp.restart.policy, "on-failure:1");

  const never = await c.createMachine({ image: f.image, restart: "no", start: true, memory_mib: 64 });
  const once = await c.waitMachine(never.id, { timeoutS: 60 });
  assert.equal(once.exit_code, 1);
  assert.equal(once.restart.count, 0);
});

test("always restarts even after success; a requested stop ends it without a restart", async (t) => {
  const f = await fixture(t);
  const c = f.d.client;
  await f.simulate([0, 0, "hang"]);
  const m = await c.createMachine({ image: f.image, restart: "always", start: true, memory_mib: 64 });
  const deadline = Date.now() + 120_000;
  let now = await c.machine(m.id);
  while (!(now.state === "started" && now.restart.count === 2) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    now = await c.machine(m.id);
  }
  assert.equal(now.restart.count, 2);
  assert.equal(now.state, "started");
  const stopped = await c.machineAction(m.id, "stop", 5);
  assert.equal(stopped.state, "stopped");
  assert.equal(stopped.last_error, null, "a requested stop is not a failure");
  await new Promise((r) => setTimeout(r, 600));
  const later = await c.machine(m.id);
  assert.equal(later.state, "stopped", "no restart after a requested stop");
  assert.equal(later.restart.pending_at, null);
});

test("kill -9 of the VMM is recorded as a crash and the restart policy applies", async (t) => {
  const f = await fixture(t);
  const c = f.d.client;
  const m = await c.createMachine({ image: f.image, restart: "on-failure:1", start: true, memory_mib: 64 });
  process.kill(m.vm!.pid, "SIGKILL");
  const deadline = Date.now() + 60_000;
  let now = await c.machine(m.id);
  while (!(now.state === "started" && now.restart.count === 1) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    now = await c.machine(m.id);
  }
  assert.equal(now.state, "started", "restarted by the policy");
  assert.notEqual(now.vm?.pid, m.vm!.pid);
  process.kill(now.vm!.pid, "SIGKILL");
  const failed = await c.waitMachine(m.id, { timeoutS: 60 });
  assert.equal(failed.state, "failed", "on-failure:1 is used up");
  assert.match(failed.last_error ?? "", /the VM ended without an exit status \(VMM killed by SIGKILL\)/);
  assert.equal(failed.exit_code, null);
});

test("walkd restarts while a machine runs: the VM survives and the next walkd controls it; one that died meanwhile is recorded", async (t) => {
  const f = await fixture(t);
  const first = await f.d.client.createMachine({ image: f.image, name: "survivor", start: true, memory_mib: 64 });
  const doomed = await f.d.client.createMachine({ image: f.image, name: "doomed", start: true, memory_mib: 64, restart: "no" });
  const wedged = await f.d.client.createMachine({ image: f.image, name: "wedged", start: true, memory_mib: 64 });
  await f.d.stop();
  // A VMM that is still the process walk spawned but can no longer be controlled (socket gone).
  await rm(wedged.vm!.control_socket);
  assert.ok(await isSameProcessAlive(first.vm!.pid, first.vm!.start_time), "the VM outlived walkd");
  process.kill(doomed.vm!.pid, "SIGKILL");
  while (await isSameProcessAlive(doomed.vm!.pid, doomed.vm!.start_time)) await new Promise((r) => setTimeout(r, 20));
  // Leftovers reconcile must remove (walk-named, no live machine) and must not touch (not walk's names).
  const orphanRun = join(f.dir, "run", "machines", "f".repeat(32));
  const orphanData = join(f.dir, "data", "machines", "e".repeat(32));
  const foreign = join(f.dir, "run", "machines", "not-walks");
  for (const d of [orphanRun, orphanData, foreign]) await mkdir(d, { recursive: true });
  await writeFile(join(orphanRun, "firecracker.sock"), "");
  await symlink("/etc", join(orphanRun, "escape"));

  const d2 = await f.restartDaemon();
  t.after(() => d2.stop());
  const c = d2.client;
  const again = await c.machine("survivor");
  assert.equal(again.state, "started");
  assert.deepEqual(again.vm, first.vm, "re-attached to the same VMM");
  assert.equal(existsSync(orphanRun), false, "orphaned runtime dir removed");
  assert.equal(existsSync(orphanData), false, "data dir without a machine removed");
  assert.equal(existsSync(foreign), true, "a dir without walk's name is left alone");
  assert.ok(existsSync("/etc/hostname"), "the symlink was removed, not followed");
  assert.equal(existsSync(join(f.dir, "run", "machines", doomed.id)), false, "the dead machine's runtime dir is gone");
  assert.equal(existsSync(join(f.dir, "data", "machines", doomed.id, "state.ext4")), true, "its state disk is kept");
  const stuck = await c.machine("wedged");
  assert.equal(stuck.state, "failed");
  assert.match(stuck.last_error ?? "", /could not re-attach after a walkd restart: .*API socket .* is missing; its VMM \(pid \d+\) was killed/);
  assert.equal(await isSameProcessAlive(wedged.vm!.pid, wedged.vm!.start_time), false, "never two VMMs on one state disk");
  const dead = await c.machine("doomed");
  assert.equal(dead.state, "failed");
  assert.match(dead.last_error ?? "", /ended without an exit status while walkd was not running/);

  const stopped = await c.machineAction("survivor", "stop", 5);
  assert.equal(stopped.state, "stopped");
  assert.equal(await isSameProcessAlive(first.vm!.pid, first.vm!.start_time), false);
  assert.equal((await c.machineAction("survivor", "start")).state, "started", "still controllable");
  await c.removeMachine("survivor", true);
  await c.removeMachine("doomed", true);
});

test("a failed start leaves the machine failed with the VMM's reason and nothing running; the next start works", async (t) => {
  const f = await fixture(t);
  const c = f.d.client;
  await f.setFaults({ "PUT /drives/vdb": { status: 400, fault_message: "Unable to create the block device: BackingFile(Os { code: 13 })" } });
  const m = await c.createMachine({ image: f.image, name: "broken", memory_mib: 64, start: true });
  assert.equal(m.state, "failed");
  assert.match(m.last_error ?? "", /^start failed: Firecracker rejected PUT \/drives\/vdb \(HTTP 400\): "Unable to create the block device/);
  assert.equal(m.vm, null);
  assert.deepEqual(await processesMentioning(m.id), [], "no VMM left running");
  assert.equal(existsSync(join(m.paths.runtime_dir, "firecracker.sock")), false);
  await f.setFaults({});
  const fixed = await c.machineAction("broken", "start");
  assert.equal(fixed.state, "started");
  assert.ok((await processesMentioning(m.id)).includes(fixed.vm!.pid), "the probe does see a running VMM");
});

test("bad input is refused with a clear error and leaves nothing behind", async (t) => {
  const f = await fixture(t);
  const c = f.d.client;
  await rejectsWith(c.createMachine({ image: `oci:${join(f.dir, "nope")}:v1` }), "not_found", /cannot pull oci:.*nope/);
  await rejectsWith(c.createMachine({ image: f.image, cpus: 32 }), "invalid_argument", /--cpus must be an integer from 1 to \d+ \(this host has \d+ CPUs\), got 32/);
  await rejectsWith(c.createMachine({ image: f.image, memory_mib: 8 }), "invalid_argument", /--memory must be from 32 MiB/);
  await rejectsWith(c.createMachine({ image: f.image, memory_mib: 1 << 30 }), "invalid_argument", /to the host's \d+ MiB/);
  await rejectsWith(c.createMachine({ image: f.image, disk_mib: 1 }), "invalid_argument", /--disk must be from 16 MiB/);
  await rejectsWith(c.createMachine({ image: f.image, name: "Bad_Name" }), "invalid_argument", /must be a DNS label/);
  await rejectsWith(c.createMachine({ image: f.image, restart: "sometimes" }), "invalid_argument", /restart policy "sometimes"/);
  await rejectsWith(c.createMachine({ image: f.image, env: ["WALK_USER=root"] }), "invalid_argument", /WALK_/);
  await rejectsWith(c.machineAction("nosuch", "stop"), "not_found", /no machine "nosuch"/);
  assert.deepEqual(await c.machines(true), []);
  assert.deepEqual(await readdir(join(f.dir, "data", "machines")).catch(() => []), []);
});

test("Idempotency-Key: the same key and body give the same machine, another body is 422, a request in flight is 409", async (t) => {
  const f = await fixture(t);
  const c = f.d.client;
  const body = { image: f.image, name: "idem", memory_mib: 64 };
  const a = await c.createMachine(body, "key-1");
  const b = await c.createMachine({ memory_mib: 64, name: "idem", image: f.image }, "key-1");
  assert.equal(b.id, a.id, "a replay returns the first machine");
  assert.equal((await c.machines(true)).length, 1);
  await rejectsWith(c.createMachine({ ...body, name: "other" }, "key-1"), "unprocessable", /already used with a different request/);

  const inFlight = { image: f.image, name: "slow", memory_mib: 64 };
  const hash = createHash("sha256").update(JSON.stringify(Object.fromEntries(Object.entries(inFlight).sort(([x], [y]) => x.localeCompare(y))))).digest("hex");
  const db = new Database(join(f.dir, "data", "walk.db"));
  db.prepare("INSERT INTO idempotency_keys (key, request_hash, machine_id, created_at) VALUES (?, ?, NULL, ?)").run("key-2", hash, new Date().toISOString());
  db.close();
  await rejectsWith(c.createMachine(inFlight, "key-2"), "conflict", /still in progress/);
  await rejectsWith(c.createMachine({ image: `oci:${join(f.dir, "nope")}:v1` }, "key-3"), "not_found", /cannot pull/);
  // A request that failed before making a machine releases its key: a corrected retry runs.
  assert.equal((await c.createMachine({ ...body, name: "third" }, "key-3")).state, "created");
});
