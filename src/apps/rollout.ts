// A deploy's rollout onto an app's machines, one slot at a time so that the app keeps serving:
// slots beyond max_machines drain and go; a running machine of an older generation is replaced
// (the new one started, the activator switched to it, the old one drained, then removed); then
// machines start until min_machines run. A stopped machine of an older generation is left for its
// next wake to replace. Runs under the app's deploy lock, after the generation is recorded; it
// does not place requests or choose which machines idle (the activator does).
import { asWalkError, type Logger } from "../lib/index.js";
import { isRunning } from "./backend.js";
import type { AppFleet } from "./fleet.js";
import type { AppMachines } from "./machines.js";
import { routeName, slotsOf } from "./routes.js";
import type { AppRecord } from "./store.js";

/** What a rollout needs from the activator (absent in tests of the API alone). */
export interface RolloutSink {
  /** Instance `index` of route `route` answers elsewhere now: drain its target, wake it again. */
  rewake(route: string, index: number): void;
  /** True once the route's retired targets have nothing open, false after `timeoutMs`. */
  drained(route: string, timeoutMs: number): Promise<boolean>;
}

export type Rollout = "recorded" | "replaced" | "started";

export interface RolloutDeps {
  machines: AppMachines;
  log: Logger;
  sink: RolloutSink | undefined;
  /** How long the old machine's requests may take to finish before it is removed anyway. */
  drainMs: number;
}

/**
 * Rolls `app` (just recorded) onto its machines. `before`: the slots that ran a machine before the
 * deploy. Throws when a new machine does not start (the slot's previous machine keeps serving).
 */
export async function rollOut(app: AppRecord, fleet: AppFleet, before: ReadonlySet<number>, deps: RolloutDeps): Promise<Rollout> {
  const { spec } = app;
  const routes = spec.services.map((_, i) => routeName(spec, i));
  const drain = async (why: string): Promise<void> => {
    const sink = deps.sink;
    if (sink === undefined) return;
    const done = await Promise.all(routes.map((r) => sink.drained(r, deps.drainMs)));
    if (done.includes(false)) deps.log.warn({ app: spec.name, drainMs: deps.drainMs }, `${why}: requests still open after the drain timeout are cut`);
  };
  // The activator lets instances of every service on the slot go to the slot's new machine.
  const switchTo = (slot: number): void => {
    spec.services.forEach((_, i) => {
      if (slot < slotsOf(spec, i)) deps.sink?.rewake(routes[i]!, slot);
    });
  };

  const extra = app.machines.filter((m) => m.slot >= spec.maxMachines);
  if (extra.length > 0) await drain("max_machines shrank"); // the new routes retired their instances
  for (const m of extra) {
    await fleet.slot(m.slot).remove();
    deps.log.info({ app: spec.name, slot: m.slot, machine: m.machineId }, "removed the machine of a slot beyond max_machines");
  }

  let replaced = false;
  for (let slot = 0; slot < spec.maxMachines; slot++) {
    const old = await fleet.slot(slot).replace(app);
    if (old === undefined) continue;
    replaced = true;
    switchTo(slot);
    await drain("replacing a machine");
    await deps.machines.remove(old, { force: true }).catch((err: unknown) => deps.log.warn({ app: spec.name, slot, machine: old, err: asWalkError(err).message }, "could not remove the previous machine"));
    deps.log.info({ app: spec.name, slot, machine: old }, "replaced the machine of an older deploy");
  }

  const keep = Math.max(0, ...spec.services.map((s) => s.minMachines));
  let running = 0;
  let started = false;
  for (let slot = 0; slot < spec.maxMachines && running < keep; slot++) {
    const s = fleet.slot(slot);
    if (!isRunning(s.machine())) {
      await s.start(app);
      switchTo(slot);
    }
    started ||= !before.has(slot);
    running++;
  }
  return replaced ? "replaced" : started ? "started" : "recorded";
}
