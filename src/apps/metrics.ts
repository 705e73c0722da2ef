// What the activator knows of an app, read per service (each service is one activator route,
// routes.ts): the route's live status and its metrics snapshot. The numbers are the activator's;
// this module only picks the routes that belong to the app. Reads only.
import type { ActivatorMetricsSnapshot, AppMetricsSnapshot, AppStatus } from "../activator/index.js";
import { routeName } from "./routes.js";
import type { AppSpec } from "./spec.js";

/** What the apps layer reads from the activator. */
export interface ActivatorReadings {
  /** Where the activator's main listener is. */
  readonly address: { host: string; port: number };
  /** A route's live status; undefined when the activator has no such route. */
  status(route: string): AppStatus | undefined;
  metrics(): ActivatorMetricsSnapshot;
}

/** One service of an app as the activator sees it. */
export interface ServiceMetrics {
  /** The service's activator route: the app's name for the first service, `<app>-<i>` for the others. */
  route: string;
  status: AppStatus;
  metrics: AppMetricsSnapshot;
}

/** The activator itself: where it listens and the requests it could not give to any app. */
export interface ActivatorInfo {
  address: { host: string; port: number };
  unrouted: ActivatorMetricsSnapshot["unrouted"];
}

/** Every service of `spec` that the activator routes, in service order. */
export function serviceMetrics(spec: AppSpec, activator: ActivatorReadings): ServiceMetrics[] {
  const snapshots = activator.metrics().apps;
  return spec.services.flatMap((_, i) => {
    const route = routeName(spec, i);
    const status = activator.status(route);
    const metrics = snapshots[route];
    // A deploy hands the activator its routes before it records the spec: for that moment a
    // service the new spec dropped is still recorded but no longer routed, so it has nothing to show.
    return status !== undefined && metrics !== undefined ? [{ route, status, metrics }] : [];
  });
}

export function activatorInfo(activator: ActivatorReadings): ActivatorInfo {
  return { address: activator.address, unrouted: activator.metrics().unrouted };
}
