// The QEMU backend of the VmDriver interface: spawn qemu-system-x86_64 (microvm, KVM or TCG) with
// its vCPUs held, check it over QMP, then boot (`cont`) or restore (`migrate-incoming`); stop via
// QMP send-key ctrl-alt-delete then SIGKILL; pause/resume/snapshot; re-attach after a daemon
// restart. Removes only the QMP socket it made; never touches the drives, the console log, the
// agent listener (the host's), networking or the DB.
import { promises as fs } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { WalkError, asWalkError, type Logger } from "../../lib/index.js";
import { adoptRecordedVmm } from "../attach.js";
import { VmmHandle } from "../handle.js";
import { claimSocketPath, describeExit, removeSocket, spawnVmm, tailOf, waitForSocket, type VmmProcess } from "../process.js";
import { timeoutsOf, validateMachineSpec } from "../spec.js";
import type { MachineSpec, SnapshotFiles, StartOptions, VmDriver, VmExit, VmHandle, VmRecord, VmState } from "../types.js";
import { resolveAccel, type AccelChoice } from "./accel.js";
import { bootArgsFor, qemuCommandLine, qemuName } from "./args.js";
import { checkQemuBinary, qemuPathOf, type QemuConfig } from "./config.js";
import { qemuLayout, type QemuLayout } from "./layout.js";
import { QmpControl, type QemuRunState } from "./qmp.js";
import { checkSnapshotQemu, loadSnapshot, qemuVersion, readSnapshot, snapshotShape, writeSnapshot } from "./snapshot.js";
import { hostTscKhz } from "./tsc.js";

const POLL_MS = 20;

export class QemuDriver implements VmDriver {
  readonly backend = "qemu" as const;
  private accelChoice: Promise<AccelChoice> | undefined;

  constructor(
    private readonly config: QemuConfig = {},
    private readonly log?: Logger,
  ) {}

  /** The accelerator machines of this driver run on, probed once (docs/vmm-drivers.md, "Accelerator"). */
  accel(): Promise<AccelChoice> {
    this.accelChoice ??= resolveAccel(this.config.accel);
    // A failed probe (accel = kvm without a device) is reported again next time, not cached.
    this.accelChoice.catch(() => (this.accelChoice = undefined));
    return this.accelChoice;
  }

  create(spec: MachineSpec): VmHandle {
    return new QemuVm(this, this.config, spec, this.log);
  }

  async attach(spec: MachineSpec, record: VmRecord): Promise<VmHandle> {
    validateMachineSpec(spec);
    const layout = qemuLayout(spec);
    const qmp = new QmpControl(layout.qmpSocket, timeoutsOf(spec).requestMs);
    const control = { backend: "qemu" as const, socket: layout.qmpSocket, name: "QMP socket" };
    const { proc, answer: status } = await adoptRecordedVmm(spec, record, control, async ({ refuse, probeMs }) => {
      const name = await qmp.name(probeMs);
      if (name !== qemuName(spec.id)) refuse(`the VMM on ${layout.qmpSocket} says it is ${JSON.stringify(name)}, not ${qemuName(spec.id)}`);
      return qmp.status(probeMs);
    });
    return QemuVm.adopted(this, this.config, spec, this.log, layout, qmp, proc, vmStateOf(status));
  }
}

/** prelaunch/inmigrate: walkd died before `cont` (never booted). Every other non-running state is stopped vCPUs. */
function vmStateOf(status: QemuRunState): VmState {
  if (status === "running") return "running";
  if (status === "prelaunch" || status === "inmigrate") return "unbooted";
  return "paused";
}

class QemuVm extends VmmHandle {
  override readonly backend = "qemu" as const;
  protected override readonly ctrlAltDelName = "QMP ctrl-alt-delete";
  private layout: QemuLayout | undefined;
  private qmp: QmpControl | undefined;
  private accel: AccelChoice | undefined;

  constructor(
    private readonly driver: QemuDriver,
    private readonly config: QemuConfig,
    spec: MachineSpec,
    log: Logger | undefined,
  ) {
    super(spec, log);
  }

  static adopted(driver: QemuDriver, config: QemuConfig, spec: MachineSpec, log: Logger | undefined, layout: QemuLayout, qmp: QmpControl, proc: VmmProcess, state: VmState): QemuVm {
    const vm = new QemuVm(driver, config, spec, log);
    vm.layout = layout;
    vm.qmp = qmp;
    vm.adopt(proc, state);
    return vm;
  }

  protected override get controlSocket(): string | undefined {
    return this.layout?.qmpSocket;
  }
  override get agentSocketPath(): string | undefined {
    return this.layout?.agentSocket;
  }

  protected override async launch(opts: StartOptions): Promise<void> {
    const spec = this.spec;
    validateMachineSpec(spec);
    const layout = qemuLayout(spec);
    await checkQemuBinary(this.config);
    const accel = await this.driver.accel();
    const bootArgs = bootArgsFor(spec, accel.accel, hostTscKhz);
    const args = qemuCommandLine(spec, layout, { accel: accel.accel, bootArgs, incoming: opts.restore !== undefined });
    // A snapshot of another machine shape is refused before anything runs.
    const snapshot = opts.restore ? await readSnapshot(opts.restore, snapshotShape(spec, accel.accel)) : undefined;
    this.current = "starting";
    this.layout = layout;
    this.accel = accel;
    const timeouts = timeoutsOf(spec);
    let spawning = false;
    try {
      await fs.mkdir(spec.runtimeDir, { recursive: true, mode: 0o700 });
      // A live QEMU on this socket is another start's VM; a stale socket is removed.
      await claimSocketPath(layout.qmpSocket, "QMP socket");
      if (layout.agentSocket !== undefined && !(await fs.lstat(layout.agentSocket).then((s) => s.isSocket(), () => false))) {
        throw new WalkError("invalid_argument", `machine ${spec.id}: nothing listens on the agent socket ${layout.agentSocket}; the host must listen there before start (QEMU connects to it)`, { details: { machine: spec.id } });
      }
      // QEMU's own diagnostics of this run only, so a failure quotes them and the file stays small.
      await fs.writeFile(layout.log, "", { mode: 0o600 });
      spawning = true;
      this.track(await spawnVmm(qemuPathOf(this.config), args, spec.consoleLogPath, layout.log));
    } catch (err) {
      this.current = "exited";
      // Before the spawn the log is a previous run's: it explains nothing here.
      throw spawning ? await this.withLog(asWalkError(err)) : asWalkError(err);
    }
    const qmp = new QmpControl(layout.qmpSocket, timeouts.requestMs);
    this.qmp = qmp;
    try {
      await opts.onSpawned?.(this.record!);
      await waitForSocket(layout.qmpSocket, this.proc!, timeouts.socketMs, `QEMU (${qemuPathOf(this.config)})`);
      const name = await qmp.name();
      if (name !== qemuName(spec.id)) throw new WalkError("internal", `the QEMU on ${layout.qmpSocket} says it is ${JSON.stringify(name)}, not ${qemuName(spec.id)}`);
      if (layout.agentSocket !== undefined) await this.waitForAgent(qmp, layout.agentSocket, timeouts.socketMs);
      if (opts.restore && snapshot) {
        checkSnapshotQemu(snapshot, opts.restore, await qemuVersion(qmp));
        await loadSnapshot(qmp, opts.restore, spec.id, () => this.proc!.exit() !== undefined);
      }
      await qmp.cont();
      const status = await qmp.status();
      if (status !== "running") throw new WalkError("internal", `machine ${spec.id}: QEMU is ${status} after cont, not running`);
      this.current = "running";
    } catch (err) {
      throw await this.explainStartFailure(err, await this.kill());
    }
  }

  /** The agent chardev connects asynchronously; the guest must not run before it has (its first lines would be lost). */
  private async waitForAgent(qmp: QmpControl, path: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await qmp.chardevConnected("agent"))) {
      if (Date.now() >= deadline) throw new WalkError("timeout", `machine ${this.spec.id}: QEMU did not connect to the agent socket ${path} within ${timeoutMs} ms (is the host listening?)`);
      await sleep(POLL_MS);
    }
  }

  private async explainStartFailure(err: unknown, exit: VmExit): Promise<WalkError> {
    const e = asWalkError(err);
    // A QEMU that died on its own (not by our kill after the failure) explains the failure best.
    if (exit.signal === "SIGKILL") return this.withLog(e);
    return this.withLog(new WalkError("internal", `QEMU for machine ${this.spec.id} exited (${describeExit(exit)}) during start: ${e.message}`, { cause: e, details: { machine: this.spec.id } }));
  }

  /** Appends the end of QEMU's stderr to an error, when it said anything. */
  private async withLog(e: WalkError): Promise<WalkError> {
    const tail = this.layout ? await tailOf(this.layout.log) : "";
    if (!tail) return e;
    return new WalkError(e.code, `${e.message}; QEMU's log ${this.layout!.log} ends: ${tail}`, { cause: e, ...(e.details ? { details: e.details } : {}) });
  }

  protected override async pauseVcpus(): Promise<void> {
    await this.control().stopVcpus();
  }

  protected override async resumeVcpus(): Promise<void> {
    await this.control().cont();
  }

  protected override async pressCtrlAltDel(): Promise<void> {
    await this.control().ctrlAltDel();
  }

  protected override async saveSnapshot(files: SnapshotFiles): Promise<void> {
    const qmp = this.control();
    const accel = this.accel ?? (await this.driver.accel());
    await writeSnapshot(qmp, files, { ...snapshotShape(this.spec, accel.accel), qemu: await qemuVersion(qmp) });
  }

  private control(): QmpControl {
    return this.qmp ?? new QmpControl(this.layout!.qmpSocket, timeoutsOf(this.spec).requestMs);
  }

  protected override removeLeftovers(): Promise<void>[] {
    return [removeSocket(this.layout!.qmpSocket)];
  }
}
