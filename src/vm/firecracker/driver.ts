// The Firecracker backend of the VmDriver interface: spawn (optionally through the jailer),
// configure over the API socket in a fixed order, boot or restore, stop via SendCtrlAltDel then
// SIGKILL, pause/resume/snapshot, and re-attach after a daemon restart. Cleans up its own
// sockets and jail; never touches the drives' contents, the console log, networking or the DB.
import { promises as fs } from "node:fs";
import { WalkError, asWalkError, type Logger } from "../../lib/index.js";
import { adoptRecordedVmm } from "../attach.js";
import { VmmHandle } from "../handle.js";
import { claimSocketPath, describeExit, removeSocket, spawnVmm, tailOf, waitForSocket, type VmmProcess } from "../process.js";
import { timeoutsOf, validateMachineSpec } from "../spec.js";
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
    const client = new FirecrackerApiClient(layout.apiSocket.host, timeoutsOf(spec).requestMs);
    const control = { backend: "firecracker" as const, socket: layout.apiSocket.host, name: "API socket" };
    const { proc, answer: state } = await adoptRecordedVmm(spec, record, control, async ({ refuse, probeMs }): Promise<VmState> => {
      const info = (await client.send(rq.describeInstance(), { timeoutMs: probeMs })) as Partial<rq.InstanceInfo>;
      if (info.id !== spec.id) refuse(`the VMM on ${layout.apiSocket.host} says it is ${JSON.stringify(info.id)}`);
      return info.state === "Paused" ? "paused" : info.state === "Running" ? "running" : "unbooted";
    });
    return FirecrackerVm.adopted(this.config, spec, this.log, layout, client, proc, state);
  }
}

class FirecrackerVm extends VmmHandle {
  override readonly backend = "firecracker" as const;
  protected override readonly ctrlAltDelName = "SendCtrlAltDel";
  private layout: FirecrackerLayout | undefined;
  private client: FirecrackerApiClient | undefined;

  constructor(
    private readonly config: FirecrackerConfig,
    spec: MachineSpec,
    log: Logger | undefined,
  ) {
    super(spec, log);
  }

  static adopted(config: FirecrackerConfig, spec: MachineSpec, log: Logger | undefined, layout: FirecrackerLayout, client: FirecrackerApiClient, proc: VmmProcess, state: VmState): FirecrackerVm {
    const vm = new FirecrackerVm(config, spec, log);
    vm.layout = layout;
    vm.client = client;
    vm.adopt(proc, state);
    return vm;
  }

  protected override get controlSocket(): string | undefined {
    return this.layout?.apiSocket.host;
  }
  override get agentSocketPath(): string | undefined {
    return this.layout?.agent?.host;
  }

  protected override async launch(opts: StartOptions): Promise<void> {
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
      throw await this.explainStartFailure(err, await this.kill());
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

  protected override async pauseVcpus(): Promise<void> {
    await this.api().send(rq.patchVm("Paused"));
  }

  protected override async resumeVcpus(): Promise<void> {
    await this.api().send(rq.patchVm("Resumed"));
  }

  protected override async pressCtrlAltDel(): Promise<void> {
    await this.api().send(rq.action("SendCtrlAltDel"));
  }

  protected override async saveSnapshot(files: SnapshotFiles): Promise<void> {
    const snap = snapshotPaths(this.layout!, files);
    await this.api().send(rq.createSnapshot({ snapshot_type: "Full", snapshot_path: snap.state.vmm, mem_file_path: snap.memory.vmm }));
    if (this.layout!.jail) {
      await exportFromJail(snap.state.host, files.statePath);
      await exportFromJail(snap.memory.host, files.memoryPath);
    }
  }

  private api(): FirecrackerApiClient {
    return this.client ?? new FirecrackerApiClient(this.layout!.apiSocket.host, timeoutsOf(this.spec).requestMs);
  }

  protected override removeLeftovers(): Promise<void>[] {
    const layout = this.layout!;
    return [removeSocket(layout.apiSocket.host), layout.agent ? removeSocket(layout.agent.host) : Promise.resolve(), removeJail(layout)];
  }
}
