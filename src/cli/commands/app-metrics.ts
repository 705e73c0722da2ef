// `walk apps metrics <app>`: the activator's view of an app, one block per service (state, load,
// counters, wake and hold time percentiles) with a line per instance. Rendering only: the
// document is GET /v1/apps/{name}/metrics, printed unchanged with --json.
import { Command } from "commander";
import type { AppMetricsWire } from "../../api/activator-schemas.js";
import type { WalkClient } from "../client.js";
import { printJson, tableLines } from "../output.js";

type Service = AppMetricsWire["services"][number];
type Histogram = Service["metrics"]["hold_ms"];

/**
 * The q-quantile (0 < q <= 1) of a histogram, as the upper bound of the bucket it falls in
 * (`<=250 ms`; `>60000 ms` in the unbounded last bucket): the samples themselves are not kept.
 */
export function percentile(h: Histogram, q: number): string {
  const rank = Math.max(1, Math.ceil(q * h.count));
  let seen = 0;
  for (const [i, n] of h.counts.entries()) {
    seen += n;
    if (seen >= rank) return i < h.bounds_ms.length ? `<=${h.bounds_ms[i]} ms` : `>${h.bounds_ms.at(-1)} ms`;
  }
  return "-";
}

/** `p50 <=100 ms, p99 <=250 ms (12 wakes)`, or `-` without samples. */
function percentiles(h: Histogram, sample: string): string {
  if (h.count === 0) return "-";
  return `p50 ${percentile(h, 0.5)}, p99 ${percentile(h, 0.99)} (${h.count} ${sample}${h.count === 1 ? "" : "s"})`;
}

function serviceLines({ route, status: st, metrics: m }: Service): string[] {
  const refused = Object.entries(m.refusals).filter(([, n]) => n > 0);
  const lines = [
    `Route:      ${route}`,
    `State:      ${st.state} (${st.running} running, min ${st.min_running}, max ${st.instances.length})`,
    `Load:       ${st.in_flight} in flight, ${st.waiting} waiting, ${st.open_connections} open connections`,
    `Requests:   ${m.requests}`,
    `Wakes:      ${m.wakes.boot} boot, ${m.wakes.resume} resume; ${m.wake_failures} failed, ${m.wake_timeouts} timed out`,
    `Idles:      ${m.idles}`,
    `Refusals:   ${refused.map(([cause, n]) => `${cause} ${n}`).join(", ") || "none"}`,
    `Wake time:  boot ${percentiles(m.wake_ms.boot, "wake")}; resume ${percentiles(m.wake_ms.resume, "wake")}`,
    `Hold time:  ${percentiles(m.hold_ms, "request")}`,
  ];
  const rows = st.instances.map((i, slot) => {
    const c = m.instances[slot] ?? { requests: 0, wakes: { boot: 0, resume: 0 }, wake_failures: 0, wake_timeouts: 0, idles: 0 };
    const target = i.target === null ? "-" : `${i.target.host}:${i.target.port}`;
    return [String(slot), i.state, target, ...[i.in_flight, i.open_connections, i.draining, c.requests, c.wakes.boot, c.wakes.resume, c.wake_failures, c.wake_timeouts, c.idles].map(String)];
  });
  return [...lines, ...tableLines(["SLOT", "STATE", "TARGET", "IN FLIGHT", "OPEN", "DRAINING", "REQUESTS", "BOOTS", "RESUMES", "FAILED", "TIMED OUT", "IDLES"], rows)];
}

/** The human form of the metrics document: a block per service, separated by blank lines. */
export function metricsText(doc: AppMetricsWire): string {
  return doc.services.map((s) => serviceLines(s).join("\n")).join("\n\n") + "\n";
}

export function metricsCommand(client: () => WalkClient): Command {
  return new Command("metrics")
    .summary("Show the activator's live status and metrics of each service of an app")
    .description(
      "Show the activator's live status and metrics of each service of an app: state, load, requests, wakes, refusals by cause, and a line per instance (machine slot). " +
        "Wake and hold times are p50/p99 estimated from histogram buckets: each is the upper bound of the bucket the percentile falls in.",
    )
    .argument("<app>", "the app's name")
    .option("--json", "print the API's document")
    .action(async (name: string, o: { json?: boolean }) => {
      const doc = await client().appMetrics(name);
      if (o.json) return printJson(doc);
      process.stdout.write(metricsText(doc));
    });
}
