// What the activator reports: GET /v1/apps/{name}/metrics (per service of an app: its route, live
// status and metrics) and GET /v1/activator (its listener and the requests it routed to no app).
// Translation only: src/apps picks an app's routes, the activator keeps the numbers.
import type { FastifyPluginAsync } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type, type Static, type TObject } from "@sinclair/typebox";
import type { ServiceMetrics } from "../../apps/index.js";
import { ActivatorSchema, AppMetricsSchema, AppRefusalsSchema, HistogramSchema, type ActivatorWire, type AppMetricsWire } from "../activator-schemas.js";
import { AppNameParams } from "../app-schemas.js";
import type { ApiServices } from "../services.js";

const errorRef = Type.Ref("Error");

type Snapshot = ServiceMetrics["metrics"];

/** Every cause `schema` lists, 0 where none was counted (the activator only keeps the causes that happened). */
function causes<T extends TObject>(schema: T, counted: Partial<Record<string, number>>): Static<T> {
  return Object.fromEntries(Object.keys(schema.properties).map((k) => [k, counted[k] ?? 0]));
}

function histogramWire(h: Snapshot["holdMs"]): Static<typeof HistogramSchema> {
  return { bounds_ms: [...h.bounds], counts: [...h.counts], count: h.count, sum_ms: h.sumMs };
}

/** The counters a route and each of its instances both have. */
function countersWire(m: Snapshot | Snapshot["instances"][number]) {
  return { requests: m.requests, wakes: { ...m.wakes }, wake_failures: m.wakeFailures, wake_timeouts: m.wakeTimeouts, idles: m.idles };
}

function serviceWire({ route, status: st, metrics: m }: ServiceMetrics): AppMetricsWire["services"][number] {
  return {
    route,
    status: {
      state: st.state,
      in_flight: st.inFlight,
      waiting: st.waiting,
      open_connections: st.openConnections,
      running: st.running,
      min_running: st.minRunning,
      soft_concurrency: st.softConcurrency,
      hard_concurrency: st.hardConcurrency,
      over_soft_limit: st.overSoftLimit,
      instances: st.instances.map((i) => ({ state: i.state, in_flight: i.inFlight, open_connections: i.openConnections, draining: i.draining, over_soft_limit: i.overSoftLimit, target: i.target ?? null })),
    },
    metrics: {
      ...countersWire(m),
      refusals: causes(AppRefusalsSchema, m.refusals),
      wake_ms: { boot: histogramWire(m.wakeMs.boot), resume: histogramWire(m.wakeMs.resume) },
      hold_ms: histogramWire(m.holdMs),
      instances: m.instances.map(countersWire),
    },
  };
}

export function activatorRoutes(s: ApiServices): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<TypeBoxTypeProvider>();
    app.addSchema(HistogramSchema);
    const unavailable = "503 (`unavailable`, the message says why) when walkd runs without its activator (its default address was taken when walkd started).";

    r.get(
      "/v1/apps/:name/metrics",
      {
        schema: {
          summary: "The activator's live status and metrics of each service of an app",
          description: `Per service (each is one activator route, named after the app, then <app>-<i>): the live status (state, load, instances) and the metrics (requests, wakes, refusals, wake and hold time histograms, per-instance counters). ${unavailable}`,
          tags: ["apps"],
          params: AppNameParams,
          response: { 200: AppMetricsSchema, 404: errorRef, 503: errorRef },
        },
      },
      async (req): Promise<AppMetricsWire> => ({ app: req.params.name, services: s.apps.metrics(req.params.name).map(serviceWire) }),
    );

    r.get(
      "/v1/activator",
      {
        schema: {
          summary: "The activator: where it listens, and the requests it could route to no app",
          description: unavailable,
          tags: ["apps"],
          response: { 200: ActivatorSchema, 503: errorRef },
        },
      },
      async (): Promise<ActivatorWire> => {
        const a = s.apps.activatorInfo();
        return { listen: a.address, unrouted: causes(ActivatorSchema.properties.unrouted, a.unrouted) };
      },
    );
  };
}
