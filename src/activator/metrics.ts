// In-memory activator metrics: counters, gauges and fixed-bucket histograms, read as one plain
// snapshot (for the API to expose later). Nothing here decides anything.
import type { WakeKind } from "./types.js";

/** Why the activator itself answered instead of the upstream. */
export type RefusalCause = "unknown_host" | "bad_host" | "wake_failed" | "wake_timeout" | "queue_full" | "queue_timeout" | "upstream_error" | "upstream_timeout" | "starting_page" | "bad_request";

/** Upper bounds (ms) of the histogram buckets; the last bucket is unbounded. */
export const HISTOGRAM_BOUNDS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000] as const;

export interface HistogramSnapshot {
  bounds: readonly number[];
  /** counts[i] is the number of samples <= bounds[i]; the final entry counts the rest. Not cumulative. */
  counts: number[];
  count: number;
  sumMs: number;
}

class Histogram {
  private readonly counts = new Array<number>(HISTOGRAM_BOUNDS_MS.length + 1).fill(0);
  private count = 0;
  private sum = 0;

  observe(ms: number): void {
    let i = HISTOGRAM_BOUNDS_MS.findIndex((b) => ms <= b);
    if (i < 0) i = HISTOGRAM_BOUNDS_MS.length;
    this.counts[i]!++;
    this.count++;
    this.sum += ms;
  }

  snapshot(): HistogramSnapshot {
    return { bounds: HISTOGRAM_BOUNDS_MS, counts: [...this.counts], count: this.count, sumMs: this.sum };
  }
}

/** One instance's share of an app's counters. */
export interface InstanceMetricsSnapshot {
  /** Requests forwarded to this instance. */
  requests: number;
  wakes: Record<WakeKind, number>;
  wakeFailures: number;
  wakeTimeouts: number;
  idles: number;
}

export interface AppMetricsSnapshot {
  /** Requests routed to the app (forwarded or refused). */
  requests: number;
  wakes: Record<WakeKind, number>;
  wakeFailures: number;
  wakeTimeouts: number;
  idles: number;
  /** Responses the activator produced itself, by cause (404s included under unknown_host only globally). */
  refusals: Partial<Record<RefusalCause, number>>;
  wakeMs: Record<WakeKind, HistogramSnapshot>;
  /** Time a request was held before it was forwarded (wake and queue wait), for every forwarded request. */
  holdMs: HistogramSnapshot;
  /** Per instance, by index (the counters above are the app's totals). */
  instances: InstanceMetricsSnapshot[];
}

export interface ActivatorMetricsSnapshot {
  /** Requests that matched no app (404), had a malformed Host (400) or could not be parsed (bad_request). */
  unrouted: Partial<Record<RefusalCause, number>>;
  apps: Record<string, AppMetricsSnapshot>;
}

export class AppMetrics {
  requests = 0;
  private readonly refusals: Partial<Record<RefusalCause, number>> = {};
  private readonly wakeMs = { boot: new Histogram(), resume: new Histogram() };
  private readonly holdMs = new Histogram();
  private readonly perInstance: InstanceMetricsSnapshot[] = [];

  refused(cause: RefusalCause): void {
    this.refusals[cause] = (this.refusals[cause] ?? 0) + 1;
  }

  held(ms: number): void {
    this.holdMs.observe(ms);
  }

  /** The counters of instance `index`, created on first use. */
  instance(index: number): InstanceMetricsSnapshot {
    while (this.perInstance.length <= index) this.perInstance.push({ requests: 0, wakes: { boot: 0, resume: 0 }, wakeFailures: 0, wakeTimeouts: 0, idles: 0 });
    return this.perInstance[index]!;
  }

  woke(index: number, kind: WakeKind, ms: number): void {
    this.instance(index).wakes[kind]++;
    this.wakeMs[kind].observe(ms);
  }

  snapshot(): AppMetricsSnapshot {
    const instances = this.perInstance.map((m) => ({ ...m, wakes: { ...m.wakes } }));
    const total = (f: (m: InstanceMetricsSnapshot) => number): number => instances.reduce((n, m) => n + f(m), 0);
    return {
      requests: this.requests,
      wakes: { boot: total((m) => m.wakes.boot), resume: total((m) => m.wakes.resume) },
      wakeFailures: total((m) => m.wakeFailures),
      wakeTimeouts: total((m) => m.wakeTimeouts),
      idles: total((m) => m.idles),
      refusals: { ...this.refusals },
      wakeMs: { boot: this.wakeMs.boot.snapshot(), resume: this.wakeMs.resume.snapshot() },
      holdMs: this.holdMs.snapshot(),
      instances,
    };
  }
}
