// The Firecracker driver end to end against the spec-validating stand-in (test/harness/
// firecracker-standin.ts): the request sequence and bodies, fault mapping, graceful and forced
// stop, the missing binary, a socket that never appears, re-attach and its refusals, snapshots.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isWalkError } from "../../src/lib/index.js";
import { FirecrackerApiClient, FirecrackerDriver, DEFAULT_CONFIG_HINT, firecrackerHostProblems, requests, isSameProcessAlive, type FirecrackerConfig, type MachineSpec, type VmHandle, type VmRecord } from "../../src/vm/index.js";
import { createStandin, FIRECRACKER_SPEC_PATH, type Standin, type StandinMode } from "../harness/firecracker/control.js";
import { describeViolation, loadFirecrackerApiSpec } from "../harness/firecracker/api-spec.js";

interface Fixture {
  dir: string;
  spec: MachineSpec;
  standin: Standin;
  config: FirecrackerConfig;
  driver: FirecrackerDriver;
}

const BOOT_ARGS = "console=ttyS0 reboot=k panic=1 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd";

async function fixture(t: TestContext, opts: { modes?: StandinMode[]; spec?: Partial<MachineSpec> } = {}): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), "walk-fc-"));
  const handles: VmHandle[] = [];
  t.after(async () => {
    for (const h of handles) await h.kill();
    await rm(dir, { recursive: true, force: true });
  });
  for (const f of ["vmlinux", "base.ext4", "app.ext4", "state.ext4"]) await writeFile(join(dir, f), "x");
  const standin = await createStandin(dir, opts.modes);
  const config: FirecrackerConfig = { firecrackerPath: standin.firecrackerPath, configHint: DEFAULT_CONFIG_HINT };
  const spec: MachineSpec = {
    id: "0123456789abcdef0123456789abcdef",
    kernelPath: join(dir, "vmlinux"),
    bootArgs: BOOT_ARGS,
    drives: [
      { id: "vda", path: join(dir, "base.ext4"), readOnly: true, root: true },
      { id: "vdb", path: join(dir, "app.ext4"), readOnly: true },
      { id: "vdc", path: join(dir, "state.ext4"), readOnly: false },
    ],
    vcpus: 2,
    memMib: 256,
    network: { tap: "wk0123456789ab", mac: "06:00:ac:10:00:02" },
    consoleLogPath: join(dir, "console.log"),
    agentChannel: join(dir, "run", "agent.sock"),
    runtimeDir: join(dir, "run"),
    // Generous bounds: the stand-in is a Node process and CI machines are busy. Not timing assertions.
    timeouts: { socketMs: 20_000, requestMs: 10_000 },
    ...opts.spec,
  };
  const driver = new FirecrackerDriver(config);
  const track = driver.create.bind(driver);
  driver.create = (s) => {
    const h = track(s);
    handles.push(h);
    return h;
  };
  return { dir, spec, standin, config, driver };
}

const codeIs = (code: string, pattern: RegExp) => (e: unknown) => {
  assert.ok(isWalkError(e), `expected a WalkError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  assert.match(e.message, pattern);
  return true;
};

test("every request builder yields a method, path and body the published spec accepts", () => {
  const spec = loadFirecrackerApiSpec(FIRECRACKER_SPEC_PATH);
  const all = [
    requests.describeInstance(),
    requests.getMachineConfig(),
    requests.putLogger({ log_path: "/l", level: "Warning", show_level: true, show_log_origin: false }),
    requests.putMetrics({ metrics_path: "/m" }),
    requests.putMachineConfig({ vcpu_count: 32, mem_size_mib: 1, smt: false, track_dirty_pages: true }),
    requests.putBootSource({ kernel_image_path: "/k", boot_args: "console=ttyS0" }),
    requests.putDrive({ drive_id: "vdc", path_on_host: "/s", is_root_device: false, is_read_only: false }),
    requests.putNetworkInterface({ iface_id: "eth0", host_dev_name: "wk1", guest_mac: "06:00:ac:10:00:02" }),
    requests.putVsock({ guest_cid: requests.GUEST_CID, uds_path: "/v.sock" }),
    requests.putEntropy({}),
    requests.putEntropy({ rate_limiter: { bandwidth: { size: 65536, refill_time: 1000 } } }),
    ...(["InstanceStart", "SendCtrlAltDel", "FlushMetrics"] as const).map((a) => requests.action(a)),
    requests.patchVm("Paused"),
    requests.patchVm("Resumed"),
    requests.createSnapshot({ snapshot_type: "Full", snapshot_path: "/s", mem_file_path: "/m" }),
    requests.loadSnapshot({ snapshot_path: "/s", mem_backend: { backend_type: "File", backend_path: "/m" }, resume_vm: true }),
    requests.loadSnapshot({ snapshot_path: "/s", mem_backend: { backend_type: "File", backend_path: "/m" }, resume_vm: false, vsock_override: { uds_path: "/v" } }),
    requests.loadSnapshot({ snapshot_path: "/s", mem_backend: { backend_type: "File", backend_path: "/m" }, resume_vm: true, clock_realtime: true }),
  ];
  for (const r of all) {
    const found = spec.find(r.method, r.path);
    assert.ok(found, `${r.method} ${r.path} is in the spec`);
    assert.equal(found.route.body !== undefined, r.body !== undefined, `${r.method} ${r.path}: a body exactly when the spec takes one`);
    if (found.route.body) assert.ok(found.route.body.validate(r.body), `${r.method} ${r.path}: ${describeViolation(found.route.body.validate)}`);
  }
});

test("start configures Firecracker in order with spec-valid bodies, boots, and stop is graceful", async (t) => {
  const f = await fixture(t);
  const vm = f.driver.create(f.spec);
  await vm.start();
  assert.equal(vm.state, "running");
  const run = f.spec.runtimeDir;
  const sent = await f.standin.requests();
  assert.deepEqual(
    sent.map((r) => ({ method: r.method, path: r.path, body: r.body, status: r.status })),
    [
      { method: "PUT", path: "/logger", body: { log_path: join(run, "firecracker.log"), level: "Warning", show_level: true, show_log_origin: false }, status: 204 },
      { method: "PUT", path: "/metrics", body: { metrics_path: join(run, "firecracker.metrics") }, status: 204 },
      { method: "PUT", path: "/machine-config", body: { vcpu_count: 2, mem_size_mib: 256, smt: false }, status: 204 },
      { method: "PUT", path: "/boot-source", body: { kernel_image_path: f.spec.kernelPath, boot_args: BOOT_ARGS }, status: 204 },
      { method: "PUT", path: "/drives/vda", body: { drive_id: "vda", path_on_host: join(f.dir, "base.ext4"), is_root_device: true, is_read_only: true }, status: 204 },
      { method: "PUT", path: "/drives/vdb", body: { drive_id: "vdb", path_on_host: join(f.dir, "app.ext4"), is_root_device: false, is_read_only: true }, status: 204 },
      { method: "PUT", path: "/drives/vdc", body: { drive_id: "vdc", path_on_host: join(f.dir, "state.ext4"), is_root_device: false, is_read_only: false }, status: 204 },
      { method: "PUT", path: "/network-interfaces/eth0", body: { iface_id: "eth0", host_dev_name: "wk0123456789ab", guest_mac: "06:00:ac:10:00:02" }, status: 204 },
      { method: "PUT", path: "/vsock", body: { guest_cid: 3, uds_path: f.spec.agentChannel }, status: 204 },
      { method: "PUT", path: "/entropy", body: { rate_limiter: { bandwidth: { size: 65536, refill_time: 1000 } } }, status: 204 },
      { method: "PUT", path: "/actions", body: { action_type: "InstanceStart" }, status: 204 },
    ],
  );
  const record = vm.record!;
  assert.equal(record.backend, "firecracker");
  assert.equal(record.controlSocket, join(run, "firecracker.sock"));
  assert.equal(vm.agentSocketPath, f.spec.agentChannel);
  assert.ok(await isSameProcessAlive(record.pid, record.startTime));
  // The VMM runs in its own session, out of walkd's process group.
  const stat = (await readFile(`/proc/${record.pid}/stat`, "utf8")).split(") ")[1]!.split(" ");
  assert.equal(stat[3], String(record.pid), "the VMM leads its own session");
  const info = (await new FirecrackerApiClient(record.controlSocket, 2000).send(requests.describeInstance())) as requests.InstanceInfo;
  assert.deepEqual({ id: info.id, state: info.state }, { id: f.spec.id, state: "Running" });
  assert.match(await readFile(f.spec.consoleLogPath, "utf8"), /Command line: console=ttyS0 reboot=k/);

  const exit = await vm.stop({ timeoutMs: 5000 });
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.equal(vm.state, "exited");
  assert.deepEqual((await f.standin.requests()).at(-1)?.body, { action_type: "SendCtrlAltDel" });
  assert.equal(existsSync(record.controlSocket), false, "API socket removed");
  assert.equal(existsSync(f.spec.agentChannel!), false, "agent socket removed");
  assert.match(await readFile(f.spec.consoleLogPath, "utf8"), /reboot: Restarting system/);
});

test("a machine without network or agent channel sends neither request", async (t) => {
  const f = await fixture(t, { spec: { network: undefined, agentChannel: undefined } });
  const vm = f.driver.create(f.spec);
  await vm.start();
  const paths = (await f.standin.requests()).map((r) => r.path);
  assert.deepEqual(paths, ["/logger", "/metrics", "/machine-config", "/boot-source", "/drives/vda", "/drives/vdb", "/drives/vdc", "/entropy", "/actions"]);
  assert.equal(vm.agentSocketPath, undefined);
  await vm.kill();
});

test("a Firecracker fault fails start with the request named and its fault quoted, leaving nothing running", async (t) => {
  const f = await fixture(t);
  await f.standin.setFaults({ "PUT /drives/vdb": { status: 400, fault_message: "Unable to create the block device: BackingFile(Os { code: 13 })" } });
  const vm = f.driver.create(f.spec);
  await assert.rejects(vm.start(), codeIs("invalid_argument", /Firecracker rejected PUT \/drives\/vdb \(HTTP 400\): "Unable to create the block device: BackingFile\(Os \{ code: 13 \}\)"/));
  assert.equal(vm.state, "exited");
  assert.equal(await isSameProcessAlive(vm.record!.pid, vm.record!.startTime), false, "VMM killed");
  assert.equal(existsSync(vm.record!.controlSocket), false);
  assert.equal(existsSync(f.spec.agentChannel!), false);
  assert.ok(!(await f.standin.requests()).some((r) => r.path === "/actions"), "never booted");
});

test("a 5xx fault maps to internal", async (t) => {
  const f = await fixture(t);
  await f.standin.setFaults({ "PUT /actions": { status: 500, fault_message: "Internal error while starting microVM: Vcpu(KvmCreate)" } });
  await assert.rejects(f.driver.create(f.spec).start(), codeIs("internal", /PUT \/actions \(HTTP 500\): "Internal error while starting microVM/));
});

test("the stand-in holds the driver to the spec: bad bodies, unknown paths and pre-boot requests after boot are refused", async (t) => {
  const f = await fixture(t);
  const vm = f.driver.create(f.spec);
  await vm.start();
  const client = new FirecrackerApiClient(vm.record!.controlSocket, 2000);
  await assert.rejects(client.send({ method: "PUT", path: "/nope", body: {} }), codeIs("invalid_argument", /"Invalid request method and\/or path: PUT \/nope\."/));
  await assert.rejects(client.send({ method: "PATCH", path: "/vm", body: { state: "Sleeping" } }), codeIs("invalid_argument", /Vm\/state must be equal to one of the allowed values/));
  await assert.rejects(client.send({ method: "PUT", path: "/actions", body: { action_type: "InstanceStart", extra: 1 } }), codeIs("invalid_argument", /unknown field `extra`/));
  await assert.rejects(client.send(requests.putBootSource({ kernel_image_path: f.spec.kernelPath, boot_args: "" })), codeIs("invalid_argument", /not supported after starting the microVM/));
  await assert.rejects(client.send(requests.action("InstanceStart")), codeIs("invalid_argument", /not supported after starting/));
  await vm.kill();
});

test("the stand-in refuses what Firecracker refuses before boot", async (t) => {
  const f = await fixture(t);
  // Driven by hand, not through the driver, to reach states the driver never produces.
  const sock = join(f.dir, "manual.sock");
  const child = spawn(f.standin.firecrackerPath, ["--api-sock", sock, "--id", "manual"], { stdio: "ignore" });
  t.after(() => child.kill("SIGKILL"));
  const client = new FirecrackerApiClient(sock, 2000);
  // Bounded wait until the stand-in answers (it is slow to start on a busy machine).
  for (let i = 0; ; i++) {
    const up = await client.send(requests.describeInstance()).then(() => true, () => false);
    if (up) break;
    assert.ok(i < 500, "the stand-in never answered on its socket");
    await new Promise((r) => setTimeout(r, 20));
  }
  await assert.rejects(client.send(requests.action("InstanceStart")), codeIs("invalid_argument", /without kernel configuration/));
  await assert.rejects(client.send(requests.action("SendCtrlAltDel")), codeIs("invalid_argument", /not supported before starting/));
  await assert.rejects(client.send(requests.patchVm("Paused")), codeIs("invalid_argument", /not supported before starting/));
  await assert.rejects(client.send(requests.putBootSource({ kernel_image_path: join(f.dir, "missing"), boot_args: "" })), codeIs("invalid_argument", /kernel file cannot be opened/));
  await client.send(requests.putDrive({ drive_id: "a", path_on_host: f.spec.kernelPath, is_root_device: true, is_read_only: true }));
  await assert.rejects(client.send(requests.putDrive({ drive_id: "b", path_on_host: f.spec.kernelPath, is_root_device: true, is_read_only: true })), codeIs("invalid_argument", /root block device already exists/));
  await assert.rejects(client.send({ method: "PUT", path: "/drives/x", body: { drive_id: "y", is_root_device: false } }), codeIs("invalid_argument", /id from the path does not match/));
  await assert.rejects(client.send({ method: "PUT", path: "/machine-config", body: { vcpu_count: 0, mem_size_mib: 128 } }), codeIs("invalid_argument", /vcpu_count must be >= 1/));
  await assert.rejects(client.send(requests.loadSnapshot({ snapshot_path: "/x", mem_backend: { backend_type: "File", backend_path: "/y" }, resume_vm: true })), codeIs("invalid_argument", /not allowed after configuring boot-specific resources/));
  assert.deepEqual(await client.send(requests.getMachineConfig()), { vcpu_count: 1, mem_size_mib: 128, smt: false, track_dirty_pages: false, huge_pages: "None" });
});

test("stop sends SendCtrlAltDel and kills the VMM when the guest ignores it", async (t) => {
  const f = await fixture(t, { modes: ["ignore-ctrl-alt-del"] });
  const vm = f.driver.create(f.spec);
  await vm.start();
  const exit = await vm.stop({ timeoutMs: 300 });
  assert.deepEqual(exit, { code: null, signal: "SIGKILL" });
  assert.equal((await f.standin.requests()).at(-1)?.body?.action_type, "SendCtrlAltDel");
  assert.equal(existsSync(vm.record!.controlSocket), false);
  // Stopping or killing an exited VM is a no-op that reports the same exit.
  assert.deepEqual(await vm.stop(), exit);
  assert.deepEqual(await vm.kill(), exit);
});

test("kill SIGKILLs the VMM and removes its sockets", async (t) => {
  const f = await fixture(t);
  const vm = f.driver.create(f.spec);
  await vm.start();
  assert.deepEqual(await vm.kill(), { code: null, signal: "SIGKILL" });
  assert.deepEqual(await vm.wait(), { code: null, signal: "SIGKILL" });
  assert.equal(existsSync(vm.record!.controlSocket), false);
  assert.equal(existsSync(f.spec.agentChannel!), false);
});

test("a missing or non-executable binary is unavailable, saying where walk looked and how to configure it", async (t) => {
  const f = await fixture(t);
  const missing = join(f.dir, "no", "firecracker");
  const driver = new FirecrackerDriver({ ...f.config, firecrackerPath: missing });
  const vm = driver.create(f.spec);
  await assert.rejects(vm.start(), codeIs("unavailable", new RegExp(`walk looked at ${missing} \\(ENOENT\\).*\\[firecracker\\] in /etc/walk/walkd.toml`)));
  assert.equal(vm.state, "new", "nothing was started; start may be retried");
  assert.equal(existsSync(f.spec.runtimeDir), false, "nothing was created");
  const plain = join(f.dir, "not-exec");
  await writeFile(plain, "#!/bin/sh\n");
  await chmod(plain, 0o644);
  await assert.rejects(new FirecrackerDriver({ ...f.config, firecrackerPath: plain }).create(f.spec).start(), codeIs("unavailable", /is not executable/));
  const noJailer = new FirecrackerDriver({ ...f.config, jailer: { jailerPath: join(f.dir, "jailer-missing"), uid: 1, gid: 1, chrootBaseDir: f.dir, cgroupVersion: 2, cgroups: [], resourceLimits: [] } });
  await assert.rejects(noJailer.create(f.spec).start(), codeIs("unavailable", /jailer binary not found/));
  // What `walk doctor` reports: the same message, with the fix.
  const problems = await firecrackerHostProblems({ ...f.config, firecrackerPath: missing });
  assert.ok(problems.some((p) => p.problem.includes(`walk looked at ${missing}`) && /releases/.test(p.fix)), JSON.stringify(problems));
  const here = await firecrackerHostProblems(f.config);
  assert.ok(!here.some((p) => /binary/.test(p.problem)), "the stand-in counts as installed");
  assert.equal(here.some((p) => /PVM/.test(p.problem)), existsSync("/sys/module/kvm_pvm"), "a PVM host is called out");
});

test("a socket that never appears times out, and nothing is left behind", async (t) => {
  const f = await fixture(t, { modes: ["no-socket"], spec: { timeouts: { socketMs: 300 } } });
  const vm = f.driver.create(f.spec);
  await assert.rejects(vm.start(), codeIs("timeout", /did not open its socket .*firecracker\.sock within 300 ms/));
  assert.equal(vm.state, "exited");
  assert.equal(await isSameProcessAlive(vm.record!.pid, vm.record!.startTime), false, "VMM killed");
  assert.equal(existsSync(vm.record!.controlSocket), false);
  assert.deepEqual(await f.standin.requests(), []);
});

test("a VMM that exits before its socket is reported with its log", async (t) => {
  const f = await fixture(t, { modes: ["exit-early"] });
  await assert.rejects(f.driver.create(f.spec).start(), codeIs("internal", /exited \(exit code 1\).*ends: stand-in: exiting before opening the API socket/));
});

test("an invalid spec is refused before anything is spawned", async (t) => {
  const f = await fixture(t);
  const bad: [Partial<MachineSpec>, RegExp][] = [
    [{ id: "bad id" }, /the id must be/],
    [{ vcpus: 33 }, /vcpus must be an integer from 1 to 32/],
    [{ memMib: 0 }, /memory must be a positive integer/],
    [{ bootArgs: "x".repeat(2049) }, /longer than 2048 bytes/],
    [{ drives: [{ id: "vda", path: "/a", readOnly: true }] }, /exactly one drive must be the root drive, found 0/],
    [{ drives: [{ id: "v-a", path: "/a", readOnly: true, root: true }] }, /drive id "v-a"/],
    [{ network: { tap: "a-tap-name-too-long", mac: "06:00:ac:10:00:02" } }, /tap name/],
    [{ network: { tap: "wk1", mac: "06:00:ac:10:00" } }, /MAC address/],
    [{ kernelPath: "vmlinux" }, /kernel path must be an absolute path/],
    [{ runtimeDir: "/" + "r".repeat(100) }, /longer than the 107 bytes/],
  ];
  for (const [override, pattern] of bad) {
    await assert.rejects(f.driver.create({ ...f.spec, ...override }).start(), codeIs("invalid_argument", pattern));
  }
  assert.deepEqual(await f.standin.requests(), []);
  assert.equal(existsSync(f.spec.runtimeDir), false);
});

test("onSpawned sees the record before configuration; if it throws, the VMM is killed", async (t) => {
  const f = await fixture(t);
  const vm = f.driver.create(f.spec);
  let seen: unknown;
  await assert.rejects(
    vm.start({
      onSpawned: (r) => {
        seen = r;
        throw new Error("database is locked");
      },
    }),
    /database is locked/,
  );
  assert.deepEqual(seen, vm.record);
  assert.equal(await isSameProcessAlive(vm.record!.pid, vm.record!.startTime), false);
  assert.deepEqual(await f.standin.requests(), []);
});

test("a restarted daemon re-attaches from pid, start time and socket, and controls the VM", async (t) => {
  const f = await fixture(t);
  const first = f.driver.create(f.spec);
  await first.start();
  const record = first.record!;
  // A new driver instance, as in a new walkd process: only the record survives.
  const attached = await new FirecrackerDriver(f.config).attach(f.spec, record);
  assert.equal(attached.state, "running");
  assert.equal(attached.pid, record.pid);
  await attached.pause();
  assert.equal(attached.state, "paused");
  const client = new FirecrackerApiClient(record.controlSocket, 2000);
  assert.equal(((await client.send(requests.describeInstance())) as requests.InstanceInfo).state, "Paused");
  const again = await new FirecrackerDriver(f.config).attach(f.spec, record);
  assert.equal(again.state, "paused", "the VMM's own state is believed");
  // Not walkd's child any more: the exit status is unknown, but the exit is seen.
  assert.deepEqual(await attached.stop({ timeoutMs: 5000 }), { code: null, signal: null });
  const tail = (await f.standin.requests()).slice(-2).map((r) => r.body);
  assert.deepEqual(tail, [{ state: "Resumed" }, { action_type: "SendCtrlAltDel" }]);
  assert.deepEqual(await first.wait(), { code: 0, signal: null });
  assert.equal(existsSync(record.controlSocket), false);
  await assert.rejects(new FirecrackerDriver(f.config).attach(f.spec, record), codeIs("not_found", /is no longer running/));
});

// Bounded: a VMM that kept the first walkd alive would otherwise hang here.
test("a VM outlives the walkd that started it, and the next one re-attaches", { timeout: 30_000 }, async (t) => {
  const f = await fixture(t);
  const script = fileURLToPath(new URL("../harness/firecracker/start-vm.js", import.meta.url));
  const child = spawn(process.execPath, [script, JSON.stringify({ config: f.config, spec: f.spec })], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  assert.equal(code, 0, "the first walkd exited by itself while its VM runs");
  const record = JSON.parse(out) as VmRecord;
  assert.ok(await isSameProcessAlive(record.pid, record.startTime), "the VM survived its walkd");
  const vm = await new FirecrackerDriver(f.config).attach(f.spec, record);
  t.after(() => vm.kill());
  assert.equal(vm.state, "running");
  assert.deepEqual(await vm.stop({ timeoutMs: 5000 }), { code: null, signal: null });
  assert.equal(await isSameProcessAlive(record.pid, record.startTime), false);
  assert.equal(existsSync(record.controlSocket), false);
});

test("re-attach refuses a reused pid, a foreign socket and a VMM with another id, and touches nothing", async (t) => {
  const f = await fixture(t);
  const vm = f.driver.create(f.spec);
  await vm.start();
  const record = vm.record!;
  const driver = new FirecrackerDriver(f.config);
  await assert.rejects(driver.attach(f.spec, { ...record, startTime: String(Number(record.startTime) + 1) }), codeIs("conflict", /the pid was reused/));
  await assert.rejects(driver.attach(f.spec, { ...record, controlSocket: join(f.dir, "other.sock") }), codeIs("conflict", /is not the machine's/));
  await assert.rejects(driver.attach(f.spec, { ...record, backend: "qemu" }), codeIs("conflict", /recorded as a qemu VM/));
  await assert.rejects(driver.attach({ ...f.spec, id: "another-machine" }, record), codeIs("conflict", /says it is "0123456789abcdef0123456789abcdef"/));
  // A live process whose start time matches but that is not a Firecracker with this socket.
  const self = { ...record, pid: process.pid, startTime: (await readFile(`/proc/${process.pid}/stat`, "utf8")).split(") ")[1]!.split(" ")[19]! };
  await assert.rejects(new FirecrackerDriver(f.config).attach({ ...f.spec, runtimeDir: join(f.dir, "elsewhere") }, { ...self, controlSocket: join(f.dir, "elsewhere", "firecracker.sock") }), codeIs("conflict", /API socket .* is missing/));
  assert.equal(vm.state, "running");
  assert.ok(await isSameProcessAlive(record.pid, record.startTime), "the VM was not touched");
  assert.equal(((await new FirecrackerApiClient(record.controlSocket, 2000).send(requests.describeInstance())) as requests.InstanceInfo).state, "Running");
});

test("a second start on a live socket is refused without disturbing the running VM", async (t) => {
  const f = await fixture(t);
  const vm = f.driver.create(f.spec);
  await vm.start();
  await assert.rejects(f.driver.create(f.spec).start(), codeIs("conflict", /firecracker\.sock is in use by a running process/));
  await assert.rejects(vm.start(), codeIs("conflict", /already started/));
  assert.ok(await isSameProcessAlive(vm.record!.pid, vm.record!.startTime));
});

test("snapshot pauses and writes a full snapshot; a new VMM restores it with only logger and metrics before the load, advancing the guest's clock", async (t) => {
  const f = await fixture(t);
  const vm = f.driver.create(f.spec);
  await vm.start();
  const files = { statePath: join(f.dir, "snap.state"), memoryPath: join(f.dir, "snap.mem") };
  await vm.snapshot(files);
  assert.equal(vm.state, "paused");
  const after = (await f.standin.requests()).slice(-2);
  assert.deepEqual(after.map((r) => [r.method, r.path, r.body]), [
    ["PATCH", "/vm", { state: "Paused" }],
    ["PUT", "/snapshot/create", { snapshot_type: "Full", snapshot_path: files.statePath, mem_file_path: files.memoryPath }],
  ]);
  assert.ok(existsSync(files.statePath) && existsSync(files.memoryPath));
  await vm.kill();
  const before = (await f.standin.requests()).length;

  const restored = f.driver.create(f.spec);
  await restored.start({ restore: files });
  assert.equal(restored.state, "running");
  const sent = (await f.standin.requests()).slice(before);
  assert.deepEqual(sent.map((r) => r.path), ["/logger", "/metrics", "/snapshot/load"]);
  assert.deepEqual(sent[2]!.body, { snapshot_path: files.statePath, mem_backend: { backend_type: "File", backend_path: files.memoryPath }, resume_vm: true, vsock_override: { uds_path: f.spec.agentChannel }, clock_realtime: true });
  assert.equal(((await new FirecrackerApiClient(restored.record!.controlSocket, 2000).send(requests.describeInstance())) as requests.InstanceInfo).state, "Running");
  await restored.pause();
  await restored.resume();
  assert.deepEqual(await restored.stop(), { code: 0, signal: null });
});

test("pause, resume and snapshot of a VM that is not running are conflicts", async (t) => {
  const f = await fixture(t);
  const vm = f.driver.create(f.spec);
  await assert.rejects(vm.pause(), codeIs("conflict", /its VM is new/));
  await assert.rejects(vm.wait(), codeIs("conflict", /never started/));
  assert.deepEqual(await vm.stop(), { code: null, signal: null });
  await vm.start();
  await vm.kill();
  await assert.rejects(vm.snapshot({ statePath: join(f.dir, "s"), memoryPath: join(f.dir, "m") }), codeIs("conflict", /its VM is exited/));
});
