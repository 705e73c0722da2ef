// How an app's spec maps onto the activator: one route per service (named after the app, then
// `<app>-<i>`), one instance per machine slot the service may use, and the limits from walk.toml.
// Also the check that two apps never claim the same hostname or host port. Pure.
import { WalkError } from "../lib/index.js";
import type { AppRoute } from "../activator/index.js";
import type { AppFleet } from "./fleet.js";
import type { AppSpec } from "./spec.js";

/** The route of service `index`: the app's name for the first, `<app>-<i>` for the others. */
export function routeName(spec: AppSpec, index: number): string {
  return index === 0 ? spec.name : `${spec.name}-${index}`;
}

/**
 * The machine slots service `index` may use. A request may start a machine only with autostart,
 * so a service without it has just the machines its min_machines keeps running.
 */
export function slotsOf(spec: AppSpec, index: number): number {
  const s = spec.services[index]!;
  return s.autostart ? spec.maxMachines : s.minMachines;
}

/** The activator routes of an app: per service, one backend per slot, in slot order. */
export function appRoutes(spec: AppSpec, fleet: AppFleet): AppRoute[] {
  return spec.services.map((s, i) => ({
    name: routeName(spec, i),
    hostnames: s.hostnames,
    ...(s.hostPort !== null ? { hostPorts: [s.hostPort] } : {}),
    backends: Array.from({ length: slotsOf(spec, i) }, (_, slot) => fleet.slot(slot).backend(i)),
    ...(s.healthCheck !== null ? { healthCheck: s.healthCheck } : {}),
    limits: {
      wakeBudgetMs: s.wakeTimeoutS * 1000,
      hardConcurrency: s.concurrency.hard,
      softConcurrency: s.concurrency.soft,
      idleTimeoutMs: s.autostop === false ? null : s.idleTimeoutS * 1000,
      minRunning: s.minMachines,
    },
  }));
}

/** The hostnames a spec answers on: `<route>.localhost` per service, and its configured names. */
function hostnamesOf(spec: AppSpec): string[] {
  return spec.services.flatMap((s, i) => [`${routeName(spec, i)}.localhost`, ...s.hostnames]);
}

/** Another app already answering on a name or host port this one claims is a conflict, named. */
export function checkNoClash(spec: AppSpec, others: AppSpec[]): void {
  const names = new Set(hostnamesOf(spec));
  const ports = new Set(spec.services.flatMap((s) => (s.hostPort === null ? [] : [s.hostPort])));
  for (const o of others) {
    const taken = hostnamesOf(o).find((h) => names.has(h));
    if (taken !== undefined) throw new WalkError("conflict", `app ${spec.name}: ${taken} is already routed to app ${o.name}`, { details: { app: spec.name, other: o.name } });
    const port = o.services.find((s) => s.hostPort !== null && ports.has(s.hostPort))?.hostPort;
    if (port != null) throw new WalkError("conflict", `app ${spec.name}: host port ${port} is already used by app ${o.name}`, { details: { app: spec.name, other: o.name } });
  }
}
