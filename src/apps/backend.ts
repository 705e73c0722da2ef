// One machine slot of an app, as the activator sees it: the AppBackend of every service on the
// slot's machine (create on first wake, replace a stopped machine of an older generation, start or
// restore from the slot's snapshot, stop or suspend once every service woken on it is idle), and
// the per-slot steps of a rollout (replace, start, remove). It must not proxy or probe readiness
// for traffic: the activator does both (the one probe here gates whether a snapshot is worth
// taking). It does not decide how many machines run: the activator's placement and minRunning do.
import { WalkError, asWalkError, type Logger } from "../lib/index.js";
import { isReady, type AppBackend, type WakeResult } from "../activator/index.js";
import type { AppMachineView, AppMachines } from "./machines.js";
import type { ServiceSpec } from "./spec.js";
import type { AppRecord, AppRepository } from "./store.js";

/** Lines of the machine's console written to walkd's log when a wake fails. */
const LAST_LOG_LINES = 20;
/** Only this much of the console's end is kept while looking for the last lines. */
const LAST_LOG_BYTES = 64 * 1024;
/** `wait` needs a bound; far beyond any machine's run, and a spurious end only costs a no-op wake. */
const ENDED_WAIT_MS = 7 * 86400_000;

export interface AppSlotDeps {
  repo: AppRepository;
  machines: AppMachines;
  log: Logger;
  /** Graceful stop timeout when idling. */
  stopTimeoutMs?: number;
  /** Settles when the app's record may be read: a deploy holds wakes until its generation is recorded. */
  recorded(): Promise<void>;
  /** The app is being removed: a wake still queued must not create a machine. */
  removed(): boolean;
}

/** The name of the machine of one slot and generation of an app (a DNS label, unique per app, slot and generation). */
export function appMachineName(app: string, slot: number, generation: number): string {
  const suffix = `-${slot}-g${generation}`;
  return app.slice(0, 63 - suffix.length).replace(/-+$/, "") + suffix;
}

export function isRunning(m: Pick<AppMachineView, "state"> | undefined): boolean {
  return m !== undefined && (m.state === "started" || m.state === "starting");
}

export class AppSlot {
  /** Services woken on this slot's machine and not idle since. */
  private readonly active = new Set<number>();
  private watch: { id: string; ac: AbortController; promise: Promise<unknown> } | undefined;
  private op: Promise<unknown> = Promise.resolve();

  constructor(
    readonly app: string,
    readonly slot: number,
    private readonly deps: AppSlotDeps,
  ) {}

  /** The AppBackend of service `index` on this slot (its internal port is read at each wake: deploys change it). */
  backend(index: number): AppBackend {
    return {
      wake: (signal) => this.wake(index, signal),
      idle: () => this.idle(index),
      lastLogs: () => this.lastLogs(),
    };
  }

  /** The slot's machine, if it has one that is not destroyed. */
  machine(): AppMachineView | undefined {
    const s = this.deps.repo.slot(this.app, this.slot);
    return s === undefined ? undefined : this.inspect(s.machineId);
  }

  /**
   * Rollout: replaces the slot's running machine of an older generation by one of `app`'s,
   * started, and returns the old machine's id (undefined: nothing to replace). When the new
   * machine does not start it is removed and the old one keeps serving.
   */
  replace(app: AppRecord): Promise<string | undefined> {
    return this.serial(async () => {
      const s = this.deps.repo.slot(this.app, this.slot);
      if (s === undefined || s.generation === app.generation || !isRunning(this.inspect(s.machineId))) return undefined;
      const m = await this.create(app);
      if (!isRunning(m)) {
        await this.deps.machines.remove(m.id, { force: true }).catch((err: unknown) => this.deps.log.warn({ app: this.app, slot: this.slot, machine: m.id, err }, "could not remove the machine that failed to start"));
        throw new WalkError("unavailable", `app ${this.app}: the new machine ${m.name} did not start: ${m.last_error ?? m.state}; the previous machine keeps serving`, { details: { app: this.app, machine: m.id } });
      }
      this.deps.repo.setSlotMachine(this.app, this.slot, m.id, app.generation);
      return s.machineId;
    });
  }

  /** Rollout: the slot's machine, started (see running()). */
  start(app: AppRecord): Promise<AppMachineView> {
    return this.serial(() => this.running(app));
  }

  /** Removes the slot's machine and its record (the app is removed, or max_machines shrank). */
  remove(): Promise<void> {
    return this.serial(async () => {
      this.close();
      const s = this.deps.repo.slot(this.app, this.slot);
      if (s === undefined) return;
      await this.deps.machines.remove(s.machineId, { force: true }).catch((err: unknown) => {
        if (!(err instanceof WalkError && err.code === "not_found")) throw err;
      });
      this.deps.repo.removeSlot(this.app, this.slot);
    });
  }

  /** Stops watching the slot's machine (the slot is removed or walkd is closing). */
  close(): void {
    this.watch?.ac.abort();
  }

  async lastLogs(): Promise<string[]> {
    const s = this.deps.repo.slot(this.app, this.slot);
    if (s === undefined) return [];
    let tail = Buffer.alloc(0);
    for await (const chunk of this.deps.machines.logs(s.machineId)) {
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > LAST_LOG_BYTES) tail = tail.subarray(tail.length - LAST_LOG_BYTES);
    }
    return tail.toString("utf8").split("\n").filter((l) => l.length > 0).slice(-LAST_LOG_LINES);
  }

  /** Serialises the slot's machine operations: a rollout step never races a wake or an idle of the same slot. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.op.then(fn, fn);
    this.op = next.catch(() => undefined);
    return next;
  }

  private async wake(index: number, signal: AbortSignal): Promise<WakeResult> {
    await this.deps.recorded();
    const { m, port, kind } = await this.serial(async () => {
      signal.throwIfAborted();
      if (this.deps.removed()) throw new WalkError("not_found", `app ${this.app} is being removed`);
      const rec = this.record();
      const svc = rec.spec.services[index];
      if (svc === undefined) throw new WalkError("not_found", `app ${this.app} has no service ${index} any more`);
      if (this.slot >= rec.spec.maxMachines) throw new WalkError("not_found", `app ${this.app} has no machine slot ${this.slot} any more (max_machines = ${rec.spec.maxMachines})`);
      const resumed = await this.resume(rec);
      const running = resumed ?? (await this.running(rec));
      this.active.add(index);
      return { m: running, port: svc.internalPort, kind: resumed ? ("resume" as const) : ("boot" as const) };
    });
    if (m.net === null) throw new WalkError("internal", `machine ${m.name} of app ${this.app} has no network address`);
    return { host: m.net.ip, port, kind, ended: this.ended(m.id) };
  }

  /**
   * Restores the slot's machine from its snapshot when one of the current generation is recorded
   * (deploys drop it). A snapshot is used once; a failed restore falls back to a boot.
   */
  private async resume(rec: AppRecord): Promise<AppMachineView | undefined> {
    const s = this.deps.repo.slot(this.app, this.slot);
    if (s === undefined || s.snapshotGeneration !== rec.generation || s.generation !== rec.generation) return undefined;
    this.deps.repo.setSlotSnapshot(this.app, this.slot, null);
    try {
      const m = await this.deps.machines.start(s.machineId, { restore: true });
      if (isRunning(m)) return m;
      this.deps.log.warn({ app: this.app, slot: this.slot, machine: m.id, state: m.state }, "restoring the slot's snapshot did not start the machine; booting it");
    } catch (err) {
      this.deps.log.warn({ app: this.app, slot: this.slot, machine: s.machineId, err: asWalkError(err).message }, "restoring the slot's snapshot failed; booting it");
    }
    return undefined;
  }

  /**
   * The slot's machine, started: created for the current generation when there is none, and in
   * place of a stopped machine of an older generation. A running machine of an older generation
   * is kept as it is: a rollout replaces it.
   */
  private async running(rec: AppRecord): Promise<AppMachineView> {
    const s = this.deps.repo.slot(this.app, this.slot);
    let m = s === undefined ? undefined : this.inspect(s.machineId);
    if (m !== undefined && s!.generation !== rec.generation) {
      if (isRunning(m)) return m;
      await this.deps.machines.remove(m.id, { force: true });
      this.deps.log.info({ app: this.app, slot: this.slot, machine: m.id }, "removed the machine of an older deploy");
      m = undefined;
    }
    if (m === undefined) {
      m = await this.create(rec);
      this.deps.repo.setSlotMachine(this.app, this.slot, m.id, rec.generation);
    } else if (!isRunning(m)) {
      m = await this.deps.machines.start(m.id);
    }
    if (!isRunning(m)) throw new WalkError("unavailable", `app ${this.app}: machine ${m.name} did not start: ${m.last_error ?? m.state}`, { details: { app: this.app, machine: m.id } });
    return m;
  }

  /** Creates and starts a machine of the slot for `rec`'s generation, from its spec. */
  private create(rec: AppRecord): Promise<AppMachineView> {
    const { spec } = rec;
    return this.deps.machines.create({ image: spec.image, name: appMachineName(this.app, this.slot, rec.generation), env: spec.env, cpus: spec.cpus, memory_mib: spec.memoryMib, network: "default", start: true });
  }

  private async idle(index: number): Promise<void> {
    this.active.delete(index);
    if (this.active.size > 0) return;
    await this.serial(async () => {
      const rec = this.deps.repo.get(this.app);
      const s = this.deps.repo.slot(this.app, this.slot);
      if (rec === undefined || s === undefined || this.active.size > 0) return;
      const svc = rec.spec.services[index] ?? rec.spec.services[0]!;
      if (svc.autostop === false) return;
      this.watch?.ac.abort();
      const suspend = svc.autostop === "suspend" && s.generation === rec.generation;
      if (suspend && !(await this.ready(s.machineId, svc))) {
        this.deps.log.warn({ app: this.app, slot: this.slot, machine: s.machineId }, "the idle machine does not pass its readiness check: stopping it rather than snapshotting it");
      } else if (suspend) {
        try {
          await this.deps.machines.suspend(s.machineId);
          this.deps.repo.setSlotSnapshot(this.app, this.slot, rec.generation);
          this.deps.log.info({ app: this.app, slot: this.slot, machine: s.machineId }, "app idle: machine suspended");
          return;
        } catch (err) {
          this.deps.log.warn({ app: this.app, slot: this.slot, machine: s.machineId, err: asWalkError(err).message }, "suspending the idle machine failed; stopping it");
        }
      }
      await this.deps.machines.stop(s.machineId, { timeoutMs: this.deps.stopTimeoutMs ?? 10_000 });
      this.deps.log.info({ app: this.app, slot: this.slot, machine: s.machineId }, "app idle: machine stopped");
    });
  }

  /** Settles when machine `id` is no longer running; one watch per machine, shared by the services. */
  private ended(id: string): Promise<unknown> {
    if (this.watch?.id === id && !this.watch.ac.signal.aborted) return this.watch.promise;
    this.watch?.ac.abort();
    const ac = new AbortController();
    const promise = this.deps.machines.wait(id, "exited", ENDED_WAIT_MS, ac.signal).catch((err: unknown) => {
      if (ac.signal.aborted) return new Promise<never>(() => undefined); // stopped by us on idle, or superseded
      return asWalkError(err);
    });
    this.watch = { id, ac, promise };
    return promise;
  }

  /**
   * Readiness gate of a snapshot: only a machine whose port accepts, and whose health check passes
   * when the service has one, is worth restoring into (a restore then wakes straight into a ready app).
   */
  private async ready(id: string, svc: ServiceSpec): Promise<boolean> {
    const m = this.inspect(id);
    if (m === undefined || m.state !== "started" || m.net === null) return false;
    return isReady({ host: m.net.ip, port: svc.internalPort }, svc.healthCheck ?? undefined);
  }

  private record(): AppRecord {
    const rec = this.deps.repo.get(this.app);
    if (rec === undefined) throw new WalkError("not_found", `no app ${JSON.stringify(this.app)} (see \`walk apps ls\`)`);
    return rec;
  }

  private inspect(id: string): AppMachineView | undefined {
    try {
      const m = this.deps.machines.inspect(id);
      return m.state === "destroyed" ? undefined : m;
    } catch {
      return undefined;
    }
  }
}
