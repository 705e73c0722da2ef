// Benchmark: the activator's warm path against nginx as reverse proxy, both in front of the same
// upstream (an nginx server block returning a fixed body) in the same run, wrk as the client:
// requests/s and p50/p99 latency per proxy, median of --runs alternating runs, and the ratios
// against the goals (>= 0.6x nginx throughput, <= 1.5x its p99). nginx gets --nginx-workers
// workers (default 1: the activator is one node thread). A bare node:http proxy runs too, as
// the reference for what node's own HTTP stack allows (see floor.ts). Then the cold path on real QEMU
// machines (see cold.ts): time to first byte of --cold-runs boots and resumes, medians and
// resume/boot (--cold-runs 0 skips it).
//   node dist/bench/activator/run.js [--seconds 5] [--connections 32] [--runs 3] [--nginx-workers 1] [--cold-runs 5]
import { parseArgs } from "node:util";
import { Activator, type AppBackend } from "../../src/activator/index.js";
import { unusedPort } from "../../src/activator/testing.js";
import { startFloorProxy } from "./floor.js";
import { measureCold, type ColdSample } from "./cold.js";
import { GUEST_MEMORY_MIB } from "./cold-apps.js";
import { Nginx } from "./nginx.js";
import { wrk, type WrkResult } from "./wrk.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    connections: { type: "string", default: "32" },
    runs: { type: "string", default: "3" },
    "nginx-workers": { type: "string", default: "1" },
    "cold-runs": { type: "string", default: "5" },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const runs = Number(values.runs);
const nginxWorkers = Number(values["nginx-workers"]);
const coldRuns = Number(values["cold-runs"]);

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (v: number): string => `${v.toFixed(1).padStart(7)} ms`;
const fmt = (r: { rps: number; p50Ms: number; p99Ms: number }): string => `${r.rps.toFixed(0).padStart(7)} req/s   p50 ${r.p50Ms.toFixed(2).padStart(6)} ms   p99 ${r.p99Ms.toFixed(2).padStart(6)} ms`;

function summary(rs: WrkResult[]): { rps: number; p50Ms: number; p99Ms: number } {
  return { rps: median(rs.map((r) => r.rps)), p50Ms: median(rs.map((r) => r.p50Ms)), p99Ms: median(rs.map((r) => r.p99Ms)) };
}

/** A backend that is already running: the upstream nginx server block. */
function fixedBackend(port: number): AppBackend {
  return { wake: async () => ({ host: "127.0.0.1", port, kind: "boot" }), idle: async () => undefined };
}

async function main(): Promise<void> {
  const ports = { upstream: await unusedPort(), proxy: await unusedPort() };
  const nginx = await Nginx.start(ports, nginxWorkers);
  const activator = await Activator.start({}, [{ name: "bench", backends: [fixedBackend(ports.upstream)], limits: { idleTimeoutMs: null, hardConcurrency: 1024, softConcurrency: 1024, queueLimit: 4096 } }]);
  const floor = await startFloorProxy(ports.upstream);
  const viaActivator: WrkResult[] = [];
  const viaNginx: WrkResult[] = [];
  const viaFloor: WrkResult[] = [];
  try {
    const opts = { seconds, connections, threads: 2, host: "bench.localhost" };
    // Warm both paths (the activator's first request wakes its backend; pools fill).
    await wrk(`http://127.0.0.1:${activator.address.port}/`, { ...opts, seconds: 1 });
    await wrk(`http://127.0.0.1:${ports.proxy}/`, { ...opts, seconds: 1 });
    await wrk(`http://127.0.0.1:${floor.port}/`, { ...opts, seconds: 1 });
    for (let i = 0; i < runs; i++) {
      viaActivator.push(await wrk(`http://127.0.0.1:${activator.address.port}/`, opts));
      viaNginx.push(await wrk(`http://127.0.0.1:${ports.proxy}/`, opts));
      viaFloor.push(await wrk(`http://127.0.0.1:${floor.port}/`, opts));
    }
  } finally {
    await activator.close();
    await floor.close();
    await nginx.stop();
  }
  const errors = [...viaActivator, ...viaNginx, ...viaFloor].reduce((s, r) => s + r.errors, 0);
  const a = summary(viaActivator);
  const n = summary(viaNginx);
  const f = summary(viaFloor);
  console.log(`warm path, ${connections} connections, ${seconds} s x ${runs} runs (median), nginx workers ${nginxWorkers}:`);
  console.log(`  activator  ${fmt(a)}`);
  console.log(`  nginx      ${fmt(n)}`);
  console.log(`  node:http  ${fmt(f)}   (a bare node:http pipe proxy, for reference)`);
  const tput = a.rps / n.rps;
  const p99 = a.p99Ms / n.p99Ms;
  console.log(`  throughput ratio ${tput.toFixed(2)}x (goal >= 0.60x) ${tput >= 0.6 ? "met" : "NOT met"}`);
  console.log(`  p99 ratio        ${p99.toFixed(2)}x (goal <= 1.50x) ${p99 <= 1.5 ? "met" : "NOT met"}`);
  console.log(`  activator / node:http proxy: throughput ${(a.rps / f.rps).toFixed(2)}x, p99 ${(a.p99Ms / f.p99Ms).toFixed(2)}x`);
  if (errors > 0) console.log(`  errors (non-2xx or socket): ${errors}`);

  if (coldRuns > 0) {
    console.log(`\ncold path through walkd's activator, time to first byte: busybox httpd, QEMU TCG, ${GUEST_MEMORY_MIB} MiB guest, ${coldRuns} runs per kind, alternating:`);
    const samples = await measureCold(coldRuns, (s, run) => console.log(`  run ${run}  ${s.kind.padEnd(6)} ttfb ${ms(s.ttfbMs)}   x-walk-wake ${s.wake}`));
    const med = (kind: ColdSample["kind"]): ColdSample => {
      const of = samples.filter((s) => s.kind === kind).sort((a, b) => a.ttfbMs - b.ttfbMs);
      return of[Math.floor(of.length / 2)]!;
    };
    const boot = med("boot");
    const resume = med("resume");
    for (const s of [boot, resume]) console.log(`  ${s.kind.padEnd(6)} median ttfb ${ms(s.ttfbMs)}   x-walk-wake of that request ${s.wake}`);
    console.log(`  resume/boot ratio ${(resume.ttfbMs / boot.ttfbMs).toFixed(2)}x`);
  }
  if (errors > 0) process.exitCode = 1;
}

await main();
