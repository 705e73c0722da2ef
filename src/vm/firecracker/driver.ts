// The Firecracker backend of the VmDriver interface: spawn (optionally through the jailer),
// configure over the API socket in a fixed order, boot or restore, stop via SendCtrlAltDel then
// SIGKILL, pause/resume/snapshot, and re-attach after a daemon restart. Cleans up its own
// sockets and jail; never touches the drives' contents, the console log, networking or the DB.
import { promises as fs } from "node:fs";
import { WalkError, asWalkError, type Logger } from "../../lib/index.js";
import { isSameProcessAlive, readProcessStat } from "../proc.js";
import { adoptVmm, claimSocketPath, describeExit, keepingAlive, removeSocket, spawnVmm, stopGracefully, tailOf, waitForSocket, type VmmProcess } from "../process.js";
import { DEFAULT_STOP_TIMEOUT_MS, timeoutsOf, validateMachineSpec } from "../spec.js";
import type { MachineSpec, SnapshotFiles, StartOptions, VmDriver, VmExit, VmHandle, VmRecord, VmState } from "../types.js";
import { FirecrackerApiClient } from "./api-client.js";
import { checkBinaries, type FirecrackerConfig } from "./config.js";
import { chownToJail, exportFromJail, jailerArgs, prepareJail, removeJail } from "./jail.js";
import { firecrackerLayout, snapshotPaths, type FirecrackerLayout } from "./layout.js";
import * as rq from "./requests.js";

/** The guest's one network interface. */
export const IFACE_ID = "eth0";
/**
 * The virtio-rng device every guest gets: host entropy for the guest kernel from boot on (and
 * after a restore, alongside VMGenID). The bound keeps a guest that reads it in a loop from
 * spending the VMM's CPU: 64 KiB/s is thousands of reseeds a second.
 */
export const ENTROPY: rq.EntropyBody = { rate_limiter: { bandwidth: { size: 65536, refill_time: 1000 } } };
/** Re-attach probes a VMM that may be wedged: bound it tighter than ordinary requests. */
const ATTACH_PROBE_MS = 2000;

export class FirecrackerDriver implements VmDriver {
  readonly backend = "firecracker" as const;

  constructor(
    private readonly config: FirecrackerConfig,
    private readonly log?: Logger,
  ) {}

  create(spec: MachineSpec): VmHandle {
    return new FirecrackerVm(this.config, spec, this.log);
  }

  async attach(spec: MachineSpec, record: VmRecord): Promise<VmHandle> {
    validateMachineSpec(spec);
    const layout = firecrackerLayout(this.config, spec);
    const refuse = (why: string): never => {
      throw new WalkError("conflict", `will not re-attach machine ${spec.id} to pid ${record.pid}: ${why}`, { details: { machine: spec.id, pid: record.pid } });
    };
    if (record.backend !== "firecracker") refuse(`it was recorded as a ${record.backend} VM`);
    if (record.controlSocket !== layout.apiSocket.host) refuse(`its recorded API socket ${record.controlSocket} is not the machine's (${layout.apiSocket.host})`);
    const stat = await readProcessStat(record.pid);
    if (stat === null || stat.state === "Z" || stat.state === "X") {
      throw new WalkError("not_found", `the VMM of machine ${spec.id} (pid ${record.pid}) is no longer running`, { details: { machine: spec.id, pid: record.pid } });
    }
    if (stat.startTime !== record.startTime) refuse(`the process with that pid started at tick ${stat.startTime}, not ${record.startTime}: the pid was reused`);
    const sock = await fs.lstat(layout.apiSocket.host).catch(() => undefined);
    if (sock === undefined) refuse(`its API socket ${layout.apiSocket.host} is missing`);
    else if (!sock.isSocket()) refuse(`${layout.apiSocket.host} is not a socket`);
    const client = new FirecrackerApiClient(layout.apiSocket.host, timeoutsOf(spec).requestMs);
    const info = (await client.send(rq.describeInstance(), { timeoutMs: Math.min(ATTACH_PROBE_MS, timeoutsOf(spec).requestMs) })) as Partial<rq.InstanceInfo>;
    if (info.id !== spec.id) refuse(`the VMM on ${layout.apiSocket.host} says it is ${JSON.stringify(info.id)}`);
    // The probe took time: make sure the pid still is the process that answered.
    if (!(await isSameProcessAlive(record.pid, record.startTime))) {
      throw new WalkError("not_found", `the VMM of machine ${spec.id} (pid ${record.pid}) exited during re-attach`);
    }
    const state: VmState = info.state === "Paused" ? "paused" : info.state === "Running" ? "running" : "unbooted";
    return FirecrackerVm.adopted(this.config, spec, this.log, layout, client, adoptVmm(record.pid, record.startTime), state);
  }
}

class FirecrackerVm implements VmHandle {
  readonly backend = "firecracker" as const;
  private current: VmState = "new";
  private proc: VmmProcess | undefined;
  private layout: FirecrackerLayout | undefined;
  private client: FirecrackerApiClient | undefined;
  private finished: Promise<VmExit> | undefined;

  constructor(
    private readonly config: FirecrackerConfig,
    readonly spec: MachineSpec,
    private readonly log: Logger | undefined,
  ) {}

  static adopted(config: FirecrackerConfig, spec: MachineSpec, log: Logger | undefined, layout: FirecrackerLayout, client: FirecrackerApiClient, proc: VmmProcess, state: VmState): FirecrackerVm {
    const vm = new FirecrackerVm(config, spec, log);
    vm.layout = layout;
    vm.client = client;
    vm.track(proc);
    vm.current = state;
    return vm;
  }

  get state(): VmState {
    return this.current;
  }
  get pid(): number | undefined {
    return this.proc?.pid;
  }
  get record(): VmRecord | undefined {
    if (!this.proc || !this.layout) return undefined;
    return { backend: "firecracker", pid: this.proc.pid, startTime: this.proc.startTime, controlSocket: this.layout.apiSocket.host };
  }
  get agentSocketPath(): string | undefined {
    return this.layout?.agent?.host;
  }

  async start(opts: StartOptions = {}): Promise<void> {
    if (this.current !== "new") throw new WalkError("conflict", `machine ${this.spec.id}: its VMM was already started (state ${this.current})`);
    validateMachineSpec(this.spec);
    const spec = this.spec;
    const layout = firecrackerLayout(this.config, spec);
    await checkBinaries(this.config);
    this.current = "starting";
    this.layout = layout;
    const timeouts = timeoutsOf(spec);
    const jailer = this.config.jailer;
    let builtJail = false;
    try {
      await fs.mkdir(spec.runtimeDir, { recursive: true, mode: 0o700 });
      // Before anything is removed or built: a live VMM on these sockets is another start's VM.
      await claimSocketPath(layout.apiSocket.host, "Firecracker API socket");
      if (layout.agent) await claimSocketPath(layout.agent.host, "agent socket");
      if (jailer) {
        builtJail = true;
        await prepareJail(layout, spec, jailer, opts.restore);
      }
      // Firecracker opens its log and metrics files but does not create them (docs/logger.md).
      for (const p of [layout.vmmLog.host, layout.metrics.host]) {
        await (await fs.open(p, "a", 0o600)).close();
        if (jailer) await chownToJail(p, jailer);
      }
      const [file, args] = jailer
        ? [jailer.jailerPath, jailerArgs(jailer, this.config.firecrackerPath, spec.id, layout.apiSocket.vmm)]
        : [this.config.firecrackerPath, ["--api-sock", layout.apiSocket.vmm, "--id", spec.id]];
      this.track(await spawnVmm(file, args, spec.consoleLogPath, layout.vmmLog.host));
    } catch (err) {
      if (builtJail) await removeJail(layout).catch(() => undefined);
      this.current = "exited";
      throw asWalkError(err);
    }
    try {
      await opts.onSpawned?.(this.record!);
      await waitForSocket(layout.apiSocket.host, this.proc!, timeouts.socketMs, `Firecracker (${this.config.firecrackerPath})`);
      this.client = new FirecrackerApiClient(layout.apiSocket.host, timeouts.requestMs);
      await this.configure(this.client, layout, opts.restore);
    } catch (err) {
      this.proc!.kill();
      const exit = await keepingAlive(this.finished!);
      throw await this.explainStartFailure(err, exit);
    }
  }

  /** The request sequence. Logger and metrics first: they are the only resources allowed before a snapshot load. */
  private async configure(client: FirecrackerApiClient, layout: FirecrackerLayout, restore: SnapshotFiles | undefined): Promise<void> {
    const spec = this.spec;
    await client.send(rq.putLogger({ log_path: layout.vmmLog.vmm, level: this.config.logLevel ?? "Warning", show_level: true, show_log_origin: false }));
    await client.send(rq.putMetrics({ metrics_path: layout.metrics.vmm }));
    if (restore) {
      const snap = snapshotPaths(layout, restore);
      await client.send(
        rq.loadSnapshot({
          snapshot_path: snap.state.vmm,
          mem_backend: { backend_type: "File", backend_path: snap.memory.vmm },
          resume_vm: true,
          ...(layout.agent ? { vsock_override: { uds_path: layout.agent.vmm } } : {}),
          // The guest's kvm-clock moves on by the time the snapshot waited, instead of resuming stale.
          clock_realtime: true,
        }),
      );
      this.current = "running";
      return;
    }
    await client.send(rq.putMachineConfig({ vcpu_count: spec.vcpus, mem_size_mib: spec.memMib, smt: false }));
    await client.send(rq.putBootSource({ kernel_image_path: layout.kernel.vmm, boot_args: spec.bootArgs }));
    for (const d of spec.drives) {
      await client.send(rq.putDrive({ drive_id: d.id, path_on_host: layout.drives.get(d.id)!.vmm, is_root_device: d.root === true, is_read_only: d.readOnly }));
    }
    if (spec.network) await client.send(rq.putNetworkInterface({ iface_id: IFACE_ID, host_dev_name: spec.network.tap, guest_mac: spec.network.mac }));
    if (layout.agent) await client.send(rq.putVsock({ guest_cid: rq.GUEST_CID, uds_path: layout.agent.vmm }));
    await client.send(rq.putEntropy(ENTROPY));
    await client.send(rq.action("InstanceStart"));
    this.current = "running";
  }

  private async explainStartFailure(err: unknown, exit: VmExit): Promise<WalkError> {
    const e = asWalkError(err);
    // A VMM that died on its own (not by our kill after the failure) explains the failure best.
    if (exit.signal === "SIGKILL" || !this.layout) return e;
    const tail = await tailOf(this.layout.vmmLog.host);
    return new WalkError("internal", `Firecracker for machine ${this.spec.id} exited (${describeExit(exit)}) during start: ${e.message}${tail ? `; its log ${this.layout.vmmLog.host} ends: ${tail}` : ""}`, {
      cause: e,
      details: { machine: this.spec.id },
    });
  }

  async stop(opts: { timeoutMs?: number } = {}): Promise<VmExit> {
    if (!this.finished) return { code: null, signal: null };
    return stopGracefully({
      state: this.current,
      finished: this.finished,
      askShutdown: async () => {
        // A paused guest cannot react to the key press.
        if (this.current === "paused") await this.api().send(rq.patchVm("Resumed"));
        await this.api().send(rq.action("SendCtrlAltDel"));
      },
      onAskFailed: (err) => this.log?.debug({ err, machine: this.spec.id }, "SendCtrlAltDel failed"),
      kill: () => this.kill(),
      timeoutMs: opts.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
    });
  }

  async kill(): Promise<VmExit> {
    if (!this.finished) return { code: null, signal: null };
    this.proc!.kill();
    return keepingAlive(this.finished);
  }

  async wait(): Promise<VmExit> {
    if (!this.finished) throw new WalkError("conflict", `machine ${this.spec.id}: its VMM was never started`);
    return keepingAlive(this.finished);
  }

  async pause(): Promise<void> {
    this.requireBooted("pause");
    await this.api().send(rq.patchVm("Paused"));
    this.current = "paused";
  }

  async resume(): Promise<void> {
    this.requireBooted("resume");
    await this.api().send(rq.patchVm("Resumed"));
    this.current = "running";
  }

  async snapshot(files: SnapshotFiles): Promise<void> {
    this.requireBooted("snapshot");
    if (this.current === "running") await this.pause();
    const snap = snapshotPaths(this.layout!, files);
    await this.api().send(rq.createSnapshot({ snapshot_type: "Full", snapshot_path: snap.state.vmm, mem_file_path: snap.memory.vmm }));
    if (this.layout!.jail) {
      await exportFromJail(snap.state.host, files.statePath);
      await exportFromJail(snap.memory.host, files.memoryPath);
    }
  }

  private requireBooted(what: string): void {
    if (this.current !== "running" && this.current !== "paused") {
      throw new WalkError("conflict", `cannot ${what} machine ${this.spec.id}: its VM is ${this.current}`, { details: { machine: this.spec.id, state: this.current } });
    }
  }

  private api(): FirecrackerApiClient {
    return this.client ?? new FirecrackerApiClient(this.layout!.apiSocket.host, timeoutsOf(this.spec).requestMs);
  }

  /** Watches the process; once it exits, removes its sockets and jail, then reports the exit. */
  private track(proc: VmmProcess): void {
    this.proc = proc;
    const layout = this.layout!;
    this.finished = proc.exited.then(async (exit) => {
      this.current = "exited";
      const cleanups = [removeSocket(layout.apiSocket.host), layout.agent ? removeSocket(layout.agent.host) : Promise.resolve(), removeJail(layout)];
      for (const r of await Promise.allSettled(cleanups)) {
        if (r.status === "rejected") this.log?.warn({ err: r.reason as unknown, machine: this.spec.id }, "cleanup after the VMM exited failed");
      }
      return exit;
    });
  }
}
