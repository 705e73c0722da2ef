// Wire shapes (snake_case JSON) of what the activator reports, as TypeBox schemas: an app's
// services with their live status and metrics, and the activator's own listener and unrouted
// requests. The OpenAPI document is generated from them.
import { Type, type Static } from "@sinclair/typebox";

const count = (description: string) => Type.Integer({ minimum: 0, description });

export const HistogramSchema = Type.Object(
  {
    bounds_ms: Type.Array(Type.Number(), { description: "the buckets' upper bounds, ms, ascending; one more bucket, unbounded, follows the last" }),
    counts: Type.Array(Type.Integer({ minimum: 0 }), { description: "samples per bucket, one more entry than bounds_ms: counts[i] is the samples <= bounds_ms[i] (and above the bound before), the last entry the samples above every bound. Not cumulative" }),
    count: count("samples in all"),
    sum_ms: Type.Number({ description: "the sum of the samples, ms (sum_ms / count is the mean)" }),
  },
  { $id: "Histogram", description: "A histogram of durations with fixed buckets: a percentile read from it is known only up to its bucket's upper bound." },
);
/** Where a histogram appears (the routes add HistogramSchema for it to resolve). */
const histogramRef = Type.Unsafe<Static<typeof HistogramSchema>>(Type.Ref("Histogram"));

const STATES = ["ready", "waking", "idling", "stopped"] as const;
const state = (description: string) => Type.Union(STATES.map((s) => Type.Literal(s)), { description });

const WakesSchema = Type.Object({ boot: count("wakes that booted a machine"), resume: count("wakes that resumed a machine from its snapshot") });

const BackendTargetSchema = Type.Object({ host: Type.String({ description: "the machine's address" }), port: Type.Integer({ description: "the service's internal port" }) });

export const InstanceStatusSchema = Type.Object({
  state: state("stopped -> waking -> ready -> idling -> stopped"),
  in_flight: count("requests in flight to its current machine"),
  open_connections: count("proxied connections open to its current machine (upgrades, e.g. websockets)"),
  draining: count("requests and connections still open on machines it left (a rollout, a machine that ended)"),
  over_soft_limit: Type.Boolean({ description: "in_flight is above the soft concurrency limit" }),
  target: Type.Union([BackendTargetSchema, Type.Null()], { description: "where it forwards requests while ready; null otherwise" }),
});

export const RouteStatusSchema = Type.Object({
  state: state("the most awake instance's state: ready, else waking, else idling, else stopped"),
  in_flight: count("requests in flight, over every instance"),
  waiting: count("requests held in the route's queue (for a wake or a free place)"),
  open_connections: count("proxied connections open, over every instance"),
  running: count("instances ready"),
  min_running: count("instances kept up (the service's min_machines)"),
  soft_concurrency: count("requests in flight per instance at which the next instance wakes"),
  hard_concurrency: count("requests in flight per instance at most; more wait"),
  over_soft_limit: Type.Boolean({ description: "every ready instance is above the soft limit (and one is ready)" }),
  instances: Type.Array(InstanceStatusSchema, { description: "one per machine slot the service may use, by slot (its length is the most instances the service runs)" }),
});

export const InstanceMetricsSchema = Type.Object({
  requests: count("requests forwarded to it"),
  wakes: WakesSchema,
  wake_failures: count("wakes that failed (the machine did not start or ended during readiness)"),
  wake_timeouts: count("wakes not ready within wake_timeout"),
  idles: count("times it was idled (stopped or suspended)"),
});

export const AppRefusalsSchema = Type.Object(
  {
    wake_failed: count("502: no instance could start"),
    wake_timeout: count("503: no instance was ready within wake_timeout"),
    queue_full: count("503: too many requests were waiting"),
    queue_timeout: count("503: waited longer than the queue timeout for a free place on a ready instance"),
    upstream_error: count("502: the machine closed the connection or could not be reached"),
    upstream_timeout: count("504: the machine did not answer in time"),
    starting_page: count("503: a browser got the \"starting\" page during a long wake"),
    unknown_host: count("404: held requests whose route went away (the app was removed)"),
  },
  { description: "responses walkd wrote itself instead of the app, by cause" },
);

export const RouteMetricsSchema = Type.Object(
  {
    requests: count("requests routed here (forwarded or refused)"),
    wakes: WakesSchema,
    wake_failures: count("failed wakes, over every instance"),
    wake_timeouts: count("wakes that ran out of wake_timeout, over every instance"),
    idles: count("idles, over every instance"),
    refusals: AppRefusalsSchema,
    wake_ms: Type.Object(
      { boot: histogramRef, resume: histogramRef },
      { description: "per wake that succeeded: from its start until the instance was ready (start or resume, then the readiness probes)" },
    ),
    hold_ms: histogramRef,
    instances: Type.Array(InstanceMetricsSchema, { description: "by slot; an instance appears once it has been woken or sent a request, and stays after the service shrank" }),
  },
  { description: "Counters since the route was added (when walkd started, or by the deploy that added the service). hold_ms: per forwarded request, how long walkd held it (for a wake or a free place) before forwarding it." },
);

export const ServiceMetricsSchema = Type.Object({
  route: Type.String({ description: "the service's activator route: <app> for the first service, <app>-<i> for service i; it answers on <route>.localhost" }),
  status: RouteStatusSchema,
  metrics: RouteMetricsSchema,
});

export const AppMetricsSchema = Type.Object({
  app: Type.String(),
  services: Type.Array(ServiceMetricsSchema, { description: "in service order" }),
});
export type AppMetricsWire = Static<typeof AppMetricsSchema>;

export const ActivatorSchema = Type.Object({
  listen: Type.Object({ host: Type.String(), port: Type.Integer() }, { description: "the activator's main listener, routed by Host: <app>.localhost and the apps' hostnames" }),
  unrouted: Type.Object(
    {
      unknown_host: count("404: no app answers to the Host"),
      bad_host: count("400: the Host header was missing or malformed"),
      bad_request: count("400, 408, 431, 501, 505: the request could not be parsed, or came too slowly"),
    },
    { description: "requests walkd could give to no app, by cause, since walkd started" },
  ),
});
export type ActivatorWire = Static<typeof ActivatorSchema>;
