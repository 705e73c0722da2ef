// Runs wrk against a URL and parses requests/s and the p50/p99 latencies from its --latency output.
import { execFile } from "../../src/lib/exec.js";

export interface WrkResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

function toMs(v: string, unit: string): number {
  const n = Number(v);
  switch (unit) {
    case "us":
      return n / 1000;
    case "ms":
      return n;
    case "s":
      return n * 1000;
    default:
      throw new Error(`wrk: unknown latency unit ${unit}`);
  }
}

export async function wrk(url: string, opts: { seconds: number; connections: number; threads: number; host: string }): Promise<WrkResult> {
  const r = await execFile("wrk", ["-t", String(opts.threads), "-c", String(opts.connections), "-d", `${opts.seconds}s`, "--latency", "-H", `Host: ${opts.host}`, url]);
  const out = r.stdout;
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p50 = /\s50%\s+([\d.]+)(us|ms|s)\b/.exec(out);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)\b/.exec(out);
  if (r.code !== 0 || !rps || !p50 || !p99) throw new Error(`wrk ${url} failed (status ${r.code}):\n${out}${r.stderr}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = Number(non2xx?.[1] ?? 0) + (sockErr ? sockErr.slice(1).reduce((s, x) => s + Number(x), 0) : 0);
  return { rps: Number(rps[1]), p50Ms: toMs(p50[1]!, p50[2]!), p99Ms: toMs(p99[1]!, p99[2]!), errors };
}
