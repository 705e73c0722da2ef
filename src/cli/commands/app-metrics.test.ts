// `walk apps metrics`' rendering: percentiles read from histogram buckets, and the block per service.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { AppMetricsWire } from "../../api/activator-schemas.js";
import { metricsText, percentile } from "./app-metrics.js";

const BOUNDS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000];

/** A histogram with `n` samples in the bucket of each given bound (Infinity: the last, unbounded one). */
function histogram(samples: Record<number, number> = {}) {
  const counts = [...BOUNDS, Infinity].map((b) => samples[b] ?? 0);
  return { bounds_ms: BOUNDS, counts, count: counts.reduce((a, b) => a + b, 0), sum_ms: 0 };
}

test("a percentile is the upper bound of the bucket it falls in; above the last bound it is open", () => {
  const h = histogram({ 5: 60, 10: 39, [Infinity]: 1 });
  assert.equal(percentile(h, 0.5), "<=5 ms");
  assert.equal(percentile(h, 0.6), "<=5 ms");
  assert.equal(percentile(h, 0.61), "<=10 ms");
  assert.equal(percentile(h, 0.99), "<=10 ms");
  assert.equal(percentile(h, 1), ">60000 ms");
  assert.equal(percentile(histogram({ 1000: 1 }), 0.01), "<=1000 ms", "one sample is every percentile");
  assert.equal(percentile(histogram(), 0.5), "-", "no sample, no percentile");
});

test("the human form: a block per service with state, load, counters, refusals, wake and hold times, and a line per instance", () => {
  const zero = { requests: 0, wakes: { boot: 0, resume: 0 }, wake_failures: 0, wake_timeouts: 0, idles: 0 };
  const refusals = { wake_failed: 0, wake_timeout: 0, queue_full: 2, queue_timeout: 0, upstream_error: 1, upstream_timeout: 0, starting_page: 0, unknown_host: 0 };
  const instance = { state: "stopped" as const, in_flight: 0, open_connections: 0, draining: 0, over_soft_limit: false, target: null };
  const doc: AppMetricsWire = {
    app: "shop",
    services: [
      {
        route: "shop",
        status: {
          state: "ready",
          in_flight: 3,
          waiting: 1,
          open_connections: 2,
          running: 1,
          min_running: 0,
          soft_concurrency: 2,
          hard_concurrency: 4,
          over_soft_limit: true,
          instances: [{ ...instance, state: "ready", in_flight: 3, open_connections: 2, over_soft_limit: true, target: { host: "10.0.0.2", port: 8080 } }, instance],
        },
        metrics: {
          requests: 40,
          wakes: { boot: 2, resume: 1 },
          wake_failures: 1,
          wake_timeouts: 0,
          idles: 2,
          refusals,
          wake_ms: { boot: histogram({ 1000: 1, 2500: 1 }), resume: histogram({ 250: 1 }) },
          hold_ms: histogram({ 5: 36, 2500: 1 }),
          instances: [{ requests: 37, wakes: { boot: 2, resume: 1 }, wake_failures: 1, wake_timeouts: 0, idles: 2 }],
        },
      },
      {
        route: "shop-1",
        status: { state: "stopped", in_flight: 0, waiting: 0, open_connections: 0, running: 0, min_running: 0, soft_concurrency: 32, hard_concurrency: 64, over_soft_limit: false, instances: [instance] },
        metrics: { ...zero, refusals: { ...refusals, queue_full: 0, upstream_error: 0 }, wake_ms: { boot: histogram(), resume: histogram() }, hold_ms: histogram(), instances: [] },
      },
    ],
  };
  assert.equal(
    metricsText(doc),
    `Route:      shop
State:      ready (1 running, min 0, max 2)
Load:       3 in flight, 1 waiting, 2 open connections
Requests:   40
Wakes:      2 boot, 1 resume; 1 failed, 0 timed out
Idles:      2
Refusals:   queue_full 2, upstream_error 1
Wake time:  boot p50 <=1000 ms, p99 <=2500 ms (2 wakes); resume p50 <=250 ms, p99 <=250 ms (1 wake)
Hold time:  p50 <=5 ms, p99 <=2500 ms (37 requests)
SLOT  STATE    TARGET         IN FLIGHT  OPEN  DRAINING  REQUESTS  BOOTS  RESUMES  FAILED  TIMED OUT  IDLES
0     ready    10.0.0.2:8080  3          2     0         37        2      1        1       0          2
1     stopped  -              0          0     0         0         0      0        0       0          0

Route:      shop-1
State:      stopped (0 running, min 0, max 1)
Load:       0 in flight, 0 waiting, 0 open connections
Requests:   0
Wakes:      0 boot, 0 resume; 0 failed, 0 timed out
Idles:      0
Refusals:   none
Wake time:  boot -; resume -
Hold time:  -
SLOT  STATE    TARGET  IN FLIGHT  OPEN  DRAINING  REQUESTS  BOOTS  RESUMES  FAILED  TIMED OUT  IDLES
0     stopped  -       0          0     0         0         0      0        0       0          0
`,
  );
});
