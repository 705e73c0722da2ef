// Apps: deploy (validate walk.toml, update the activator's routes, record the new generation, roll
// it onto the app's machines), list, inspect, remove, logs, the activator routes of every app, and
// what the activator reports about each. It must not speak HTTP or proxy: the API translates, the
// activator serves.
import { WalkError, asWalkError, type Logger } from "../lib/index.js";
import type { AppRoute } from "../activator/index.js";
import { parseWalkToml } from "./config.js";
import { isRunning } from "./backend.js";
import { AppFleet } from "./fleet.js";
import { consoles } from "./logs.js";
import type { AppMachineView, AppMachines } from "./machines.js";
import { activatorInfo, serviceMetrics, type ActivatorInfo, type ActivatorReadings, type ServiceMetrics } from "./metrics.js";
import { rollOut, type Rollout, type RolloutSink } from "./rollout.js";
import { appRoutes, checkNoClash } from "./routes.js";
import type { AppSpec } from "./spec.js";
import type { AppRecord, AppRepository, AppSlotRecord } from "./store.js";

/** Where the routes go, and where their status and metrics come from: the activator (absent in tests of the API alone). */
export interface RouteSink extends RolloutSink, ActivatorReadings {
  setRoutes(routes: readonly AppRoute[]): Promise<void>;
}

export interface AppServiceDeps {
  repo: AppRepository;
  machines: AppMachines;
  log: Logger;
  /** Graceful stop timeout of an idle machine, and how long a replaced machine drains. */
  stopTimeoutMs?: number;
}

/** A slot's machine as the API shows it. */
export interface AppMachineInfo extends AppSlotRecord {
  name: string;
  state: AppMachineView["state"];
}

/** An app with the name and state of each of its machines. */
export interface AppView extends Omit<AppRecord, "machines"> {
  machines: AppMachineInfo[];
  /** Why the activator does not route the app (its routes could not be applied at walkd's start), or null. */
  unserved: string | null;
}

export interface DeployResult {
  app: AppView;
  /** What the deploy did to the app's machines. */
  rollout: Rollout;
}

const DEFAULT_STOP_TIMEOUT_MS = 10_000;

export class AppService {
  private readonly fleets = new Map<string, AppFleet>();
  private sink: RouteSink | undefined;
  /** Apps whose routes could not be applied when walkd started, and why; a redeploy tries again. */
  private readonly unserved = new Map<string, string>();
  /** Why there is no activator, for the reads that need one. */
  private noActivator = "walkd runs without an activator";

  constructor(private readonly deps: AppServiceDeps) {}

  list(): AppView[] {
    return this.deps.repo.list().map((r) => this.view(r));
  }

  inspect(name: string): AppView {
    return this.view(this.record(name));
  }

  /** Connects the activator and gives it every app's routes (it then keeps min_machines running). */
  async attach(sink: RouteSink): Promise<void> {
    this.sink = sink;
    const specs = this.specs();
    try {
      await sink.setRoutes(this.routesFor(specs));
    } catch (err) {
      // One app's host port taken by another program must not keep every other app offline:
      // serve the apps whose routes apply, and say which do not and why.
      const served: AppSpec[] = [];
      for (const spec of specs) {
        try {
          await sink.setRoutes(this.routesFor([...served, spec]));
          served.push(spec);
        } catch (e) {
          const why = asWalkError(e).message;
          this.unserved.set(spec.name, why);
          this.deps.log.error({ app: spec.name, err: why }, "app not served: its routes cannot be applied; fix the cause and redeploy it");
        }
      }
      if (served.length === specs.length) throw err;
    }
  }

  /** walkd runs on without an activator: `why` is what the reads of its metrics answer. */
  withoutActivator(why: string): void {
    this.noActivator = why;
  }

  /** Per service of the app: its activator route, live status and metrics. */
  metrics(name: string): ServiceMetrics[] {
    const spec = this.record(name).spec;
    return serviceMetrics(spec, this.activator());
  }

  /** The activator's address and the requests it could route to no app. */
  activatorInfo(): ActivatorInfo {
    return activatorInfo(this.activator());
  }

  /**
   * Deploys walk.toml text. The routes are applied first (a hostname or host port taken by another
   * app, or a port that cannot be bound, fails here with nothing recorded), then the generation is
   * recorded (dropping every snapshot), then rolled out (rollout.ts).
   */
  async deploy(text: string, file = "walk.toml"): Promise<DeployResult> {
    const spec = parseWalkToml(text, file);
    const fleet = this.fleet(spec.name);
    return fleet.exclusive(async () => {
      const others = this.specs().filter((s) => s.name !== spec.name);
      checkNoClash(spec, others);
      const routed = others.filter((s) => !this.unserved.has(s.name));
      const before = new Set((this.deps.repo.get(spec.name)?.machines ?? []).filter((m) => isRunning(this.machineInfo(m.machineId))).map((m) => m.slot));
      const app = await fleet.recording(async () => {
        await this.sink?.setRoutes(this.routesFor([...routed, spec]));
        this.unserved.delete(spec.name);
        return this.deps.repo.deploy(spec);
      });
      this.deps.log.info({ app: spec.name, generation: app.generation, image: spec.image }, "app deployed");
      const rollout = await rollOut(app, fleet, before, { machines: this.deps.machines, log: this.deps.log, sink: this.sink, drainMs: this.stopTimeoutMs() });
      return { app: this.inspect(spec.name), rollout };
    });
  }

  /** Removes the app: its routes first (no new wakes), then its machines, then the record. */
  async remove(name: string): Promise<AppView> {
    const shown = this.inspect(name);
    const fleet = this.fleet(name);
    await fleet.exclusive(async () => {
      const rec = this.record(name);
      await this.sink?.setRoutes(this.routesFor(this.specs().filter((s) => s.name !== name && !this.unserved.has(s.name))));
      this.unserved.delete(name);
      await fleet.removeAll(rec.machines.map((m) => m.slot));
      this.deps.repo.remove(name);
    });
    fleet.close();
    this.fleets.delete(name);
    this.deps.log.info({ app: name }, "app removed");
    return shown;
  }

  /**
   * The console of the app's machines: of one slot's machine (`slot`), or of every machine, each
   * line prefixed with the machine's name when there are several. Empty before the first wake.
   */
  logs(name: string, opts: { slot?: number; follow?: boolean; signal?: AbortSignal } = {}): AsyncGenerator<Buffer> {
    const app = this.inspect(name);
    const shown = opts.slot === undefined ? app.machines : app.machines.filter((m) => m.slot === opts.slot);
    if (opts.slot !== undefined && shown.length === 0) throw new WalkError("not_found", `app ${name} has no machine in slot ${opts.slot}`, { details: { app: name, slot: opts.slot } });
    const follow = { ...(opts.follow !== undefined ? { follow: opts.follow } : {}), ...(opts.signal !== undefined ? { signal: opts.signal } : {}) };
    return consoles(
      shown.map((m) => ({ label: m.name, lines: this.deps.machines.logs(m.machineId, follow) })),
      opts.follow === true,
    );
  }

  /** Stops watching machines; machines are left as they are. */
  close(): void {
    for (const f of this.fleets.values()) f.close();
  }

  private record(name: string): AppRecord {
    const rec = this.deps.repo.get(name);
    if (rec === undefined) throw new WalkError("not_found", `no app ${JSON.stringify(name)} (see \`walk apps ls\`)`, { details: { app: name } });
    return rec;
  }

  private activator(): ActivatorReadings {
    if (this.sink === undefined) throw new WalkError("unavailable", `apps are not served: ${this.noActivator}`);
    return this.sink;
  }

  private view(r: AppRecord): AppView {
    return { ...r, machines: r.machines.map((m) => ({ ...m, ...this.machineInfo(m.machineId) })), unserved: this.unserved.get(r.name) ?? null };
  }

  private machineInfo(id: string): { name: string; state: AppMachineView["state"] } {
    try {
      const m = this.deps.machines.inspect(id);
      return { name: m.name, state: m.state };
    } catch {
      return { name: id, state: "destroyed" };
    }
  }

  private stopTimeoutMs(): number {
    return this.deps.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
  }

  private specs(): AppSpec[] {
    return this.deps.repo.list().map((r) => r.spec);
  }

  private fleet(name: string): AppFleet {
    let f = this.fleets.get(name);
    if (f === undefined) {
      f = new AppFleet(name, { repo: this.deps.repo, machines: this.deps.machines, log: this.deps.log, stopTimeoutMs: this.stopTimeoutMs() });
      this.fleets.set(name, f);
    }
    return f;
  }

  private routesFor(specs: AppSpec[]): AppRoute[] {
    return specs.flatMap((spec) => appRoutes(spec, this.fleet(spec.name)));
  }
}
