// The Firecracker driver with the jailer, end to end against the stand-in acting as the jailer:
// the jailer command line, the chroot walk builds (hard links, ownership), in-jail paths in every
// request, a VMM really running as the jail's uid, snapshots through the jail, and its removal.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chmod, lstat, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isWalkError } from "../../src/lib/index.js";
import { FirecrackerApiClient, FirecrackerDriver, DEFAULT_CONFIG_HINT, jailerArgs, requests, type FirecrackerConfig, type JailerConfig, type MachineSpec } from "../../src/vm/index.js";
import { createStandin, type Standin } from "../harness/firecracker/control.js";

const NOBODY = 65534;

async function jailFixture(t: TestContext): Promise<{ dir: string; base: string; spec: MachineSpec; standin: Standin; config: FirecrackerConfig; jailer: JailerConfig }> {
  const dir = await mkdtemp(join(tmpdir(), "walk-fcj-"));
  // The jailed VMM runs as nobody and must be able to reach its chroot below this dir.
  await chmod(dir, 0o755);
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const f of ["vmlinux-6.1", "base.ext4", "app.ext4", "state.ext4"]) await writeFile(join(dir, f), "x", { mode: 0o644 });
  // Kernels are often reached through a symlink; the jail must get the file, not the link.
  await symlink(join(dir, "vmlinux-6.1"), join(dir, "vmlinux"));
  const standin = await createStandin(dir);
  const base = join(dir, "jail");
  const jailer: JailerConfig = { jailerPath: standin.jailerPath, uid: NOBODY, gid: NOBODY, chrootBaseDir: base, cgroupVersion: 2, cgroups: ["cpu.weight=100"], parentCgroup: "walk", resourceLimits: ["no-file=1024"] };
  const config: FirecrackerConfig = { firecrackerPath: standin.firecrackerPath, configHint: DEFAULT_CONFIG_HINT, jailer };
  const spec: MachineSpec = {
    id: "jailed-0123456789abcdef",
    kernelPath: join(dir, "vmlinux"),
    bootArgs: "console=ttyS0 reboot=k panic=1",
    drives: [
      { id: "vda", path: join(dir, "base.ext4"), readOnly: true, root: true },
      { id: "vdb", path: join(dir, "app.ext4"), readOnly: true },
      { id: "vdc", path: join(dir, "state.ext4"), readOnly: false },
    ],
    vcpus: 1,
    memMib: 128,
    consoleLogPath: join(dir, "console.log"),
    agentChannel: join(dir, "run", "agent.sock"),
    runtimeDir: join(dir, "run"),
    // Generous bounds: the stand-in is a Node process and CI machines are busy.
    timeouts: { socketMs: 20_000, requestMs: 10_000 },
  };
  return { dir, base, spec, standin, config, jailer };
}

test("jailerArgs follows docs/jailer.md, Firecracker's own flags after --", () => {
  const j: JailerConfig = { jailerPath: "/usr/bin/jailer", uid: 123, gid: 100, chrootBaseDir: "/srv/jailer", cgroupVersion: 1, cgroups: ["cpuset.mems=0", "cpuset.cpus=0-3"], netns: "/var/run/netns/walk", resourceLimits: ["fsize=250000000"] };
  assert.deepEqual(jailerArgs(j, "/usr/bin/firecracker", "551e7604-e35c", "/run/firecracker.socket"), [
    "--id", "551e7604-e35c", "--exec-file", "/usr/bin/firecracker", "--uid", "123", "--gid", "100",
    "--chroot-base-dir", "/srv/jailer", "--cgroup-version", "1", "--cgroup", "cpuset.mems=0", "--cgroup", "cpuset.cpus=0-3",
    "--netns", "/var/run/netns/walk", "--resource-limit", "fsize=250000000", "--", "--api-sock", "/run/firecracker.socket",
  ]);
});

test("a jailed VM: jailer command, hard-linked chroot, in-jail paths, unprivileged VMM, snapshot and cleanup", async (t) => {
  const f = await jailFixture(t);
  const driver = new FirecrackerDriver(f.config);
  const vm = driver.create(f.spec);
  t.after(() => vm.kill());
  await vm.start();
  const root = join(f.base, "firecracker", f.spec.id);
  const chroot = join(root, "root");

  assert.deepEqual(await f.standin.jailerCalls(), [
    ["--id", f.spec.id, "--exec-file", f.standin.firecrackerPath, "--uid", "65534", "--gid", "65534", "--chroot-base-dir", f.base, "--cgroup-version", "2",
      "--cgroup", "cpu.weight=100", "--parent-cgroup", "walk", "--resource-limit", "no-file=1024", "--", "--api-sock", "/run/firecracker.socket"],
  ]);
  const sent = await f.standin.requests();
  assert.ok(sent.every((r) => r.status === 204), JSON.stringify(sent.filter((r) => r.status !== 204)));
  const body = (path: string) => sent.find((r) => r.path === path)?.body;
  assert.deepEqual(body("/logger"), { log_path: "/firecracker.log", level: "Warning", show_level: true, show_log_origin: false });
  assert.deepEqual(body("/metrics"), { metrics_path: "/firecracker.metrics" });
  assert.deepEqual(body("/boot-source"), { kernel_image_path: "/vmlinux", boot_args: "console=ttyS0 reboot=k panic=1" });
  assert.deepEqual(body("/drives/vdc"), { drive_id: "vdc", path_on_host: "/drives/vdc", is_root_device: false, is_read_only: false });
  assert.deepEqual(body("/vsock"), { guest_cid: 3, uds_path: "/run/agent.sock" });

  assert.equal(vm.record!.controlSocket, join(chroot, "run", "firecracker.socket"));
  assert.equal(vm.agentSocketPath, join(chroot, "run", "agent.sock"));
  assert.ok((await stat(vm.agentSocketPath)).isSocket());
  for (const [inJail, host] of [["vmlinux", "vmlinux-6.1"], ["drives/vda", "base.ext4"], ["drives/vdc", "state.ext4"]] as const) {
    const linked = await lstat(join(chroot, inJail));
    assert.ok(linked.isFile(), `${inJail} is a file, not a symlink`);
    assert.equal(linked.ino, (await stat(join(f.dir, host))).ino, `${inJail} is a hard link to ${host}`);
  }
  assert.equal((await stat(join(f.dir, "state.ext4"))).uid, NOBODY, "the writable state disk belongs to the jail user");
  assert.equal((await stat(join(f.dir, "base.ext4"))).uid, 0, "read-only drives keep their owner");
  const status = await readFile(`/proc/${vm.pid}/status`, "utf8");
  assert.match(status, new RegExp(`^Uid:\\s+${NOBODY}\\s+${NOBODY}`, "m"), "the VMM dropped to the jail uid");
  const info = (await new FirecrackerApiClient(vm.record!.controlSocket, 2000).send(requests.describeInstance())) as requests.InstanceInfo;
  assert.equal(info.id, f.spec.id);
  // A second start of the same machine must not tear down the running VM's jail.
  await assert.rejects(driver.create(f.spec).start(), (e) => isWalkError(e, "conflict") && /in use by a running process/.test(e.message));
  assert.ok(existsSync(join(chroot, "drives", "vdc")) && existsSync(vm.record!.controlSocket), "the running VM's jail is intact");

  const files = { statePath: join(f.dir, "snaps", "state"), memoryPath: join(f.dir, "snaps", "memory") };
  await vm.snapshot(files);
  assert.deepEqual((await f.standin.requests()).at(-1)?.body, { snapshot_type: "Full", snapshot_path: "/snapshot/state", mem_file_path: "/snapshot/memory" });
  assert.ok(existsSync(files.statePath) && existsSync(files.memoryPath), "snapshot files exported out of the jail");

  assert.deepEqual(await vm.kill(), { code: null, signal: "SIGKILL" });
  assert.equal(existsSync(root), false, "the jail is removed once the VMM is gone");
  assert.ok(existsSync(join(f.dir, "state.ext4")) && existsSync(files.memoryPath), "removing the jail leaves the originals");

  const restored = driver.create(f.spec);
  t.after(() => restored.kill());
  await restored.start({ restore: files });
  assert.deepEqual((await f.standin.requests()).at(-1)?.body, {
    snapshot_path: "/snapshot/state",
    mem_backend: { backend_type: "File", backend_path: "/snapshot/memory" },
    resume_vm: true,
    vsock_override: { uds_path: "/run/agent.sock" },
    clock_realtime: true,
  });
  assert.equal(restored.state, "running");
  const attached = await new FirecrackerDriver(f.config).attach(f.spec, restored.record!);
  assert.deepEqual(await attached.stop({ timeoutMs: 5000 }), { code: null, signal: null });
  assert.equal(existsSync(root), false);
});

test("a jailed start that fails removes the jail and leaves the originals", async (t) => {
  const f = await jailFixture(t);
  await f.standin.setFaults({ "PUT /boot-source": { status: 400, fault_message: "The kernel file cannot be opened: Permission denied" } });
  const vm = new FirecrackerDriver(f.config).create(f.spec);
  await assert.rejects(vm.start(), (e) => isWalkError(e, "invalid_argument") && /PUT \/boot-source/.test(e.message));
  assert.equal(existsSync(join(f.base, "firecracker", f.spec.id)), false);
  assert.ok(existsSync(f.spec.kernelPath));
});

test("a jailed drive the jail user cannot read fails at its PUT, with the kernel's verdict", async (t) => {
  const f = await jailFixture(t);
  await chmod(join(f.dir, "app.ext4"), 0o600);
  const vm = new FirecrackerDriver(f.config).create(f.spec);
  await assert.rejects(vm.start(), (e) => isWalkError(e, "invalid_argument") && /PUT \/drives\/vdb .*EACCES/.test(e.message));
  assert.equal(existsSync(join(f.base, "firecracker", f.spec.id)), false);
});
