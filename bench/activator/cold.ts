// Cold-path measurement: time to first byte for a request to a stopped app, through the
// activator, for a backend that boots and one that resumes. The backends come from a factory so
// the machine-backed ones (an app with autostop=stop, and one with autostop=suspend) plug in here
// unchanged; until they are wired, run.ts passes the loopback stand-in, which measures only what
// the activator adds on the cold path (wake bookkeeping, readiness probing, proxying).
import { request } from "node:http";
import { Activator, type AppBackend } from "../../src/activator/index.js";
import { eventually } from "../../src/activator/testing.js";

export type ColdKind = "boot" | "resume";

/** Makes one app backend that wakes by `kind`; close() tears down whatever it started. */
export type ColdBackendFactory = (kind: ColdKind) => Promise<{ backend: AppBackend; close(): Promise<void> }>;

export interface ColdSample {
  ttfbMs: number;
  /** The x-walk-wake header of the response, e.g. "resume;dur=41.2". */
  wake: string;
}

function ttfb(port: number): Promise<ColdSample> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request({ host: "127.0.0.1", port, headers: { host: "cold.localhost" }, agent: false }, (res) => {
      const ms = performance.now() - t0;
      res.resume();
      res.on("end", () => (res.statusCode === 200 ? resolve({ ttfbMs: ms, wake: String(res.headers["x-walk-wake"]) }) : reject(new Error(`cold request answered ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end();
  });
}

/** `runs` cold requests, each after the app went idle (idle timeout 50 ms, no cooldown). */
export async function measureCold(factory: ColdBackendFactory, kind: ColdKind, runs: number): Promise<ColdSample[]> {
  const made = await factory(kind);
  const a = await Activator.start({}, [{ name: "cold", backends: [made.backend], limits: { idleTimeoutMs: 50, cooldownMs: 0, wakeBudgetMs: 120_000 } }]);
  const samples: ColdSample[] = [];
  try {
    // The first wake of any backend is a boot; a resume needs one sleep first.
    if (kind === "resume") await ttfb(a.address.port);
    for (let i = 0; i < runs; i++) {
      await eventually("the app to go idle", () => a.status("cold")?.state === "stopped", 120_000);
      samples.push(await ttfb(a.address.port));
    }
  } finally {
    await a.close();
    await made.close();
  }
  return samples;
}
