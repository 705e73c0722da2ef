// The VmHandle lifecycle both backends share: the state (new → starting → running ⇄ paused →
// exited), the VMM process once spawned or adopted and what follows its exit, the graceful stop
// (ask the guest, wait, then SIGKILL), kill, wait, pause, resume and the pause before a snapshot.
// A backend supplies its start and the VMM's own requests; this module knows no VMM protocol,
// layout or jail.
import { setTimeout as sleep } from "node:timers/promises";
import { WalkError, type Logger } from "../lib/index.js";
import { keepingAlive, type VmmProcess } from "./process.js";
import { DEFAULT_STOP_TIMEOUT_MS } from "./spec.js";
import type { MachineSpec, SnapshotFiles, StartOptions, VmBackend, VmExit, VmHandle, VmRecord, VmState } from "./types.js";

export abstract class VmmHandle implements VmHandle {
  abstract readonly backend: VmBackend;
  protected current: VmState = "new";
  protected proc: VmmProcess | undefined;
  private finished: Promise<VmExit> | undefined;

  constructor(
    readonly spec: MachineSpec,
    protected readonly log: Logger | undefined,
  ) {}

  /** Host path of the VMM's control socket, once known. */
  protected abstract get controlSocket(): string | undefined;
  abstract get agentSocketPath(): string | undefined;
  /** Spawns, configures and boots (or restores); called once, on a new handle. */
  protected abstract launch(opts: StartOptions): Promise<void>;
  protected abstract pauseVcpus(): Promise<void>;
  protected abstract resumeVcpus(): Promise<void>;
  /** The VMM's ctrl-alt-delete: how a guest is asked to shut down. */
  protected abstract pressCtrlAltDel(): Promise<void>;
  /** Names pressCtrlAltDel in the log when it fails. */
  protected abstract readonly ctrlAltDelName: string;
  /** Writes a full snapshot of the paused VM. */
  protected abstract saveSnapshot(files: SnapshotFiles): Promise<void>;
  /** Removes what the VMM leaves behind once it has exited (sockets, jail). */
  protected abstract removeLeftovers(): Promise<void>[];

  get state(): VmState {
    return this.current;
  }
  get pid(): number | undefined {
    return this.proc?.pid;
  }
  get record(): VmRecord | undefined {
    const controlSocket = this.controlSocket;
    if (!this.proc || controlSocket === undefined) return undefined;
    return { backend: this.backend, pid: this.proc.pid, startTime: this.proc.startTime, controlSocket };
  }

  async start(opts: StartOptions = {}): Promise<void> {
    if (this.current !== "new") throw new WalkError("conflict", `machine ${this.spec.id}: its VMM was already started (state ${this.current})`);
    await this.launch(opts);
  }

  /**
   * A booted guest (running or paused) is asked to shut down (a failed request only means the VMM
   * may already be going). Unless the guest never booted ("starting", "unbooted": nothing in it
   * could react), the VMM gets `timeoutMs` to exit — at once for one that already has — before kill.
   */
  async stop(opts: { timeoutMs?: number } = {}): Promise<VmExit> {
    if (!this.finished) return { code: null, signal: null };
    const state = this.current;
    if (state === "running" || state === "paused") {
      await this.askShutdown().catch((err: unknown) => this.log?.debug({ err, machine: this.spec.id }, `${this.ctrlAltDelName} failed`));
    }
    if (state !== "unbooted" && state !== "starting") {
      const ac = new AbortController();
      const waited = sleep(opts.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS, undefined, { signal: ac.signal }).catch(() => undefined);
      const graceful = await keepingAlive(Promise.race([this.finished, waited]));
      ac.abort();
      if (graceful) return graceful;
    }
    return this.kill();
  }

  private async askShutdown(): Promise<void> {
    // A paused guest cannot react to the key press.
    if (this.current === "paused") await this.resumeVcpus();
    await this.pressCtrlAltDel();
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
    await this.pauseVcpus();
    this.current = "paused";
  }

  async resume(): Promise<void> {
    this.requireBooted("resume");
    await this.resumeVcpus();
    this.current = "running";
  }

  async snapshot(files: SnapshotFiles): Promise<void> {
    this.requireBooted("snapshot");
    if (this.current === "running") await this.pause();
    await this.saveSnapshot(files);
  }

  private requireBooted(what: string): void {
    if (this.current !== "running" && this.current !== "paused") {
      throw new WalkError("conflict", `cannot ${what} machine ${this.spec.id}: its VM is ${this.current}`, { details: { machine: this.spec.id, state: this.current } });
    }
  }

  /** Watches the process; once it exits, removes its leftovers, then reports the exit (never rejects). */
  protected track(proc: VmmProcess): void {
    this.proc = proc;
    this.finished = proc.exited.then(async (exit) => {
      this.current = "exited";
      for (const r of await Promise.allSettled(this.removeLeftovers())) {
        if (r.status === "rejected") this.log?.warn({ err: r.reason as unknown, machine: this.spec.id }, "cleanup after the VMM exited failed");
      }
      return exit;
    });
  }

  /** Takes over a VMM a previous walkd started, in the state the VMM reported. */
  protected adopt(proc: VmmProcess, state: VmState): void {
    this.track(proc);
    this.current = state;
  }
}
