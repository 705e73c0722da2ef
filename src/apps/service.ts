// Apps: deploy (validate walk.toml, update the activator's routes, record the new generation, roll
// it onto the app's machine), list, inspect, remove, logs, and the activator routes of every app.
// It must not speak HTTP or proxy: the API translates, the activator serves.
import { WalkError, type Logger } from "../lib/index.js";
import type { AppRoute } from "../activator/index.js";
import { parseWalkToml } from "./config.js";
import { AppMachine } from "./backend.js";
import type { AppMachines } from "./machines.js";
import type { AppSpec } from "./spec.js";
import type { AppRecord, AppRepository } from "./store.js";

/** Where the routes go: the activator (absent in tests of the API alone). */
export interface RouteSink {
  setRoutes(routes: readonly AppRoute[]): Promise<void>;
}

export interface AppServiceDeps {
  repo: AppRepository;
  machines: AppMachines;
  log: Logger;
  stopTimeoutMs?: number;
}

export interface DeployResult {
  app: AppRecord;
  /** What the deploy did to the app's machine. */
  rollout: "recorded" | "replaced" | "started";
}

export class AppService {
  private readonly controllers = new Map<string, AppMachine>();
  private sink: RouteSink | undefined;

  constructor(private readonly deps: AppServiceDeps) {}

  list(): AppRecord[] {
    return this.deps.repo.list();
  }

  inspect(name: string): AppRecord {
    const rec = this.deps.repo.get(name);
    if (rec === undefined) throw new WalkError("not_found", `no app ${JSON.stringify(name)} (see \`walk apps ls\`)`, { details: { app: name } });
    return rec;
  }

  /** Connects the activator and gives it every app's routes. */
  async attach(sink: RouteSink): Promise<void> {
    this.sink = sink;
    await sink.setRoutes(this.routesFor(this.list().map((r) => r.spec)));
  }

  /**
   * Deploys walk.toml text. The routes are applied first (a hostname or host port taken by another
   * app, or a port that cannot be bound, fails here with nothing recorded), then the generation is
   * recorded (dropping any snapshot), then rolled out: a running machine is replaced by one of the
   * new generation, started; a stopped app just records it, and its next wake creates the new one.
   */
  async deploy(text: string, file = "walk.toml"): Promise<DeployResult> {
    const spec = parseWalkToml(text, file);
    const others = this.list().filter((r) => r.name !== spec.name).map((r) => r.spec);
    checkNoClash(spec, others);
    await this.sink?.setRoutes(this.routesFor([...others, spec]));
    const ctl = this.controller(spec.name);
    return ctl.serial(async () => {
      const prev = this.deps.repo.get(spec.name);
      const app = this.deps.repo.deploy(spec);
      this.deps.log.info({ app: spec.name, generation: app.generation, image: spec.image }, "app deployed");
      const old = prev?.machineId ?? null;
      const oldRunning = old !== null && isRunning(this.deps.machines, old);
      const keepUp = spec.services.some((s) => s.minMachines > 0);
      if (!oldRunning && !keepUp) return { app, rollout: "recorded" as const };
      const m = await ctl.createFor(app.generation, true);
      if (m.state !== "started" && m.state !== "starting") {
        await this.deps.machines.remove(m.id, { force: true }).catch((err: unknown) => this.deps.log.warn({ app: spec.name, machine: m.id, err }, "could not remove the machine that failed to start"));
        throw new WalkError("unavailable", `app ${spec.name}: the new machine ${m.name} did not start: ${m.last_error ?? m.state}; the previous machine keeps serving`, { details: { app: spec.name, machine: m.id } });
      }
      this.deps.repo.setMachine(spec.name, m.id, app.generation);
      if (old !== null) ctl.retire(old);
      if (old !== null) await this.deps.machines.remove(old, { force: true }).catch((err: unknown) => this.deps.log.warn({ app: spec.name, machine: old, err }, "could not remove the previous machine"));
      return { app: this.deps.repo.get(spec.name)!, rollout: oldRunning ? ("replaced" as const) : ("started" as const) };
    });
  }

  /** Removes the app: its routes first (no new wakes), then its machine, then the record. */
  async remove(name: string): Promise<AppRecord> {
    const rec = this.inspect(name);
    await this.sink?.setRoutes(this.routesFor(this.list().filter((r) => r.name !== name).map((r) => r.spec)));
    const ctl = this.controller(name);
    await ctl.serial(async () => {
      ctl.close();
      const id = this.deps.repo.get(name)?.machineId ?? null;
      if (id !== null) await this.deps.machines.remove(id, { force: true }).catch((err: unknown) => {
        if (!(err instanceof WalkError && err.code === "not_found")) throw err;
      });
      this.deps.repo.remove(name);
    });
    this.controllers.delete(name);
    this.deps.log.info({ app: name }, "app removed");
    return rec;
  }

  /** The console of the app's current machine (empty when it never had one). */
  async *logs(name: string, opts: { follow?: boolean; signal?: AbortSignal } = {}): AsyncGenerator<Buffer> {
    const id = this.inspect(name).machineId;
    if (id === null) return;
    yield* this.deps.machines.logs(id, opts);
  }

  /** Stops watching machines; machines are left as they are. */
  close(): void {
    for (const c of this.controllers.values()) c.close();
  }

  private controller(name: string): AppMachine {
    let c = this.controllers.get(name);
    if (c === undefined) {
      c = new AppMachine(name, { repo: this.deps.repo, machines: this.deps.machines, log: this.deps.log, ...(this.deps.stopTimeoutMs !== undefined ? { stopTimeoutMs: this.deps.stopTimeoutMs } : {}) });
      this.controllers.set(name, c);
    }
    return c;
  }

  private routesFor(specs: AppSpec[]): AppRoute[] {
    return specs.flatMap((spec) => appRoutes(spec, this.controller(spec.name)));
  }
}

/** One route per service: the first is named after the app (`<app>.localhost`), others `<app>-<i>`. */
export function appRoutes(spec: AppSpec, ctl: AppMachine): AppRoute[] {
  return spec.services.map((s, i) => ({
    name: routeName(spec, i),
    hostnames: s.hostnames,
    ...(s.hostPort !== null ? { hostPorts: [s.hostPort] } : {}),
    backends: [ctl.backend(i)],
    ...(s.healthCheck !== null ? { healthCheck: s.healthCheck } : {}),
    limits: {
      wakeBudgetMs: s.wakeTimeoutS * 1000,
      hardConcurrency: s.concurrency.hard,
      softConcurrency: s.concurrency.soft,
      idleTimeoutMs: s.autostop === false || s.minMachines > 0 ? null : s.idleTimeoutS * 1000,
    },
  }));
}

function isRunning(machines: AppMachines, id: string): boolean {
  try {
    const s = machines.inspect(id).state;
    return s === "started" || s === "starting";
  } catch {
    return false;
  }
}

/** The hostnames a spec answers on: `<route>.localhost` per service, and its configured names. */
function hostnamesOf(spec: AppSpec): string[] {
  return spec.services.flatMap((s, i) => [`${routeName(spec, i)}.localhost`, ...s.hostnames]);
}

function routeName(spec: AppSpec, index: number): string {
  return index === 0 ? spec.name : `${spec.name}-${index}`;
}

/** Another app already answering on a name or host port this one claims is a conflict, named. */
function checkNoClash(spec: AppSpec, others: AppSpec[]): void {
  const names = new Set(hostnamesOf(spec));
  const ports = new Set(spec.services.flatMap((s) => (s.hostPort === null ? [] : [s.hostPort])));
  for (const o of others) {
    const taken = hostnamesOf(o).find((h) => names.has(h));
    if (taken !== undefined) throw new WalkError("conflict", `app ${spec.name}: ${taken} is already routed to app ${o.name}`, { details: { app: spec.name, other: o.name } });
    const port = o.services.find((s) => s.hostPort !== null && ports.has(s.hostPort))?.hostPort;
    if (port != null) throw new WalkError("conflict", `app ${spec.name}: host port ${port} is already used by app ${o.name}`, { details: { app: spec.name, other: o.name } });
  }
}
