// The machine-backed activator backend: one AppMachine per app owns the app's machine (create on
// first wake, replace a machine of an older generation, start or restore from a snapshot, stop or
// suspend on idle); each service of the app gets an AppBackend over it, and the machine idles
// only when every woken service is idle. It must not proxy or probe readiness for traffic: the
// activator does both (the one probe here gates whether a snapshot is worth taking).
import { connect } from "node:net";
import { WalkError, asWalkError, type Logger } from "../lib/index.js";
import type { AppBackend, WakeResult } from "../activator/index.js";
import type { AppMachineView, AppMachines } from "./machines.js";
import type { AppRepository } from "./store.js";

/** Lines of the machine's console written to walkd's log when a wake fails. */
const LAST_LOG_LINES = 20;
/** Only this much of the console's end is kept while looking for the last lines. */
const LAST_LOG_BYTES = 64 * 1024;
/** `wait` needs a bound; far beyond any machine's run, and a spurious end only costs a no-op wake. */
const ENDED_WAIT_MS = 7 * 86400_000;
/** Connect timeout of the readiness probe before a snapshot. */
const READY_PROBE_MS = 2000;

export interface AppMachineDeps {
  repo: AppRepository;
  machines: AppMachines;
  log: Logger;
  /** Graceful stop timeout when idling. */
  stopTimeoutMs?: number;
}

/** The name of the machine serving one generation of an app (a DNS label, unique per app and generation). */
export function appMachineName(app: string, generation: number): string {
  const suffix = `-g${generation}`;
  return app.slice(0, 63 - suffix.length).replace(/-+$/, "") + suffix;
}

export class AppMachine {
  private readonly active = new Set<number>();
  private watch: { id: string; ac: AbortController; promise: Promise<unknown>; retire: () => void } | undefined;
  private op: Promise<unknown> = Promise.resolve();

  constructor(
    readonly app: string,
    private readonly deps: AppMachineDeps,
  ) {}

  /** The AppBackend of service `index` (its internal port is read at each wake: deploys change it). */
  backend(index: number): AppBackend {
    return {
      wake: (signal) => this.wake(index, signal),
      idle: () => this.idle(index),
      lastLogs: () => this.lastLogs(),
    };
  }

  /** Serialises machine operations of this app: a deploy's rollout never races a wake or an idle. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.op.then(fn, fn);
    this.op = next.catch(() => undefined);
    return next;
  }

  private async wake(index: number, signal: AbortSignal): Promise<WakeResult> {
    const { m, port, kind } = await this.serial(async () => {
      signal.throwIfAborted();
      const rec = this.record();
      const svc = rec.spec.services[index];
      if (svc === undefined) throw new WalkError("not_found", `app ${this.app} has no service ${index} any more`);
      const resumed = await this.resume();
      const running = resumed ?? (await this.running(svc.autostart));
      this.active.add(index);
      return { m: running, port: svc.internalPort, kind: resumed ? ("resume" as const) : ("boot" as const) };
    });
    if (m.net === null) throw new WalkError("internal", `machine ${m.name} of app ${this.app} has no network address`);
    return { host: m.net.ip, port, kind, ended: this.ended(m.id) };
  }

  /**
   * Restores the app's machine from its snapshot when one of the current generation is recorded
   * (deploys drop it). A snapshot is used once; a failed restore falls back to a boot.
   */
  private async resume(): Promise<AppMachineView | undefined> {
    const rec = this.record();
    if (rec.machineId === null || rec.snapshotGeneration === null || rec.snapshotGeneration !== rec.generation || rec.machineGeneration !== rec.generation) return undefined;
    this.deps.repo.setSnapshot(this.app, null);
    try {
      const m = await this.deps.machines.start(rec.machineId, { restore: true });
      if (m.state === "started" || m.state === "starting") return m;
      this.deps.log.warn({ app: this.app, machine: m.id, state: m.state }, "restoring the app's snapshot did not start the machine; booting it");
    } catch (err) {
      this.deps.log.warn({ app: this.app, machine: rec.machineId, err: asWalkError(err).message }, "restoring the app's snapshot failed; booting it");
    }
    return undefined;
  }

  /** The app's machine of the current generation, started; created when there is none. */
  async running(autostart = true): Promise<AppMachineView> {
    const { machines, repo, log } = this.deps;
    const rec = this.record();
    let m = rec.machineId === null ? undefined : this.inspect(rec.machineId);
    if (m !== undefined && rec.machineGeneration !== rec.generation) {
      if (m.state === "started" || m.state === "starting") return m; // a rollout replaces it
      await machines.remove(m.id, { force: true });
      log.info({ app: this.app, machine: m.id }, "removed the machine of an older deploy");
      m = undefined;
    }
    if (m === undefined) {
      if (!autostart) throw new WalkError("conflict", `app ${this.app} has no running machine and autostart is off`);
      m = await this.createFor(rec.generation, true);
      repo.setMachine(this.app, m.id, rec.generation);
    } else if (m.state !== "started" && m.state !== "starting") {
      if (!autostart) throw new WalkError("conflict", `app ${this.app}'s machine ${m.name} is ${m.state} and autostart is off`);
      m = await machines.start(m.id);
    }
    if (m.state !== "started" && m.state !== "starting") {
      throw new WalkError("unavailable", `app ${this.app}: machine ${m.name} did not start: ${m.last_error ?? m.state}`, { details: { app: this.app, machine: m.id } });
    }
    return m;
  }

  /** Creates (and optionally starts) a machine for `generation` from the recorded spec. */
  async createFor(generation: number, start: boolean): Promise<AppMachineView> {
    const { spec } = this.record();
    return this.deps.machines.create({ image: spec.image, name: appMachineName(this.app, generation), env: spec.env, cpus: spec.cpus, memory_mib: spec.memoryMib, network: "default", start });
  }

  private async idle(index: number): Promise<void> {
    this.active.delete(index);
    if (this.active.size > 0) return;
    await this.serial(async () => {
      const rec = this.deps.repo.get(this.app);
      if (rec === undefined || rec.machineId === null || this.active.size > 0) return;
      const svc = rec.spec.services[index] ?? rec.spec.services[0]!;
      if (svc.autostop === false || svc.minMachines > 0) return;
      this.watch?.ac.abort();
      if (svc.autostop === "suspend" && rec.machineGeneration === rec.generation && (await this.accepting(rec.machineId, svc.internalPort))) {
        try {
          await this.deps.machines.suspend(rec.machineId);
          this.deps.repo.setSnapshot(this.app, rec.generation);
          this.deps.log.info({ app: this.app, machine: rec.machineId }, "app idle: machine suspended");
          return;
        } catch (err) {
          this.deps.log.warn({ app: this.app, machine: rec.machineId, err: asWalkError(err).message }, "suspending the idle app failed; stopping it");
        }
      }
      await this.deps.machines.stop(rec.machineId, { timeoutMs: this.deps.stopTimeoutMs ?? 10_000 });
      this.deps.log.info({ app: this.app, machine: rec.machineId }, "app idle: machine stopped");
    });
  }

  /** Settles when machine `id` is no longer running (or is retired); one watch per machine, shared by the services. */
  private ended(id: string): Promise<unknown> {
    if (this.watch?.id === id && !this.watch.ac.signal.aborted) return this.watch.promise;
    this.watch?.ac.abort();
    const ac = new AbortController();
    let retire = (): void => undefined;
    const retired = new Promise<void>((resolve) => (retire = resolve));
    const exited = this.deps.machines.wait(id, "exited", ENDED_WAIT_MS, ac.signal).catch((err: unknown) => {
      if (ac.signal.aborted) return new Promise<never>(() => undefined); // stopped by us on idle, or superseded
      return asWalkError(err);
    });
    const promise = Promise.race([exited, retired]);
    this.watch = { id, ac, promise, retire };
    return promise;
  }

  /**
   * A deploy replaced machine `id`: tell the activator now that it ended, before it is removed,
   * so new requests wake onto the new machine instead of reaching the old one's address.
   */
  retire(id: string): void {
    if (this.watch?.id === id) this.watch.retire();
  }

  /** Readiness gate of a snapshot: only a machine whose port accepts is worth restoring into. */
  private async accepting(id: string, port: number): Promise<boolean> {
    const m = this.inspect(id);
    if (m === undefined || m.state !== "started" || m.net === null) return false;
    const ip = m.net.ip;
    return new Promise<boolean>((resolve) => {
      const s = connect({ host: ip, port, timeout: READY_PROBE_MS });
      const done = (ok: boolean): void => {
        s.destroy();
        resolve(ok);
      };
      s.once("connect", () => done(true));
      s.once("timeout", () => done(false));
      s.once("error", () => done(false));
    });
  }

  /** Stops watching the machine (the app is removed or walkd is closing). */
  close(): void {
    this.watch?.ac.abort();
  }

  async lastLogs(): Promise<string[]> {
    const id = this.deps.repo.get(this.app)?.machineId;
    if (id === null || id === undefined) return [];
    let tail = Buffer.alloc(0);
    for await (const chunk of this.deps.machines.logs(id)) {
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > LAST_LOG_BYTES) tail = tail.subarray(tail.length - LAST_LOG_BYTES);
    }
    return tail.toString("utf8").split("\n").filter((l) => l.length > 0).slice(-LAST_LOG_LINES);
  }

  private record() {
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
