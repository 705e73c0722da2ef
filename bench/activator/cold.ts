// Cold-path measurement: time to first byte of a request to a stopped app through walkd's
// activator, for an app whose machine boots (autostop = "stop") and one whose machine resumes from
// its snapshot (autostop = "suspend"), on real QEMU machines (cold-apps.ts). The first request of
// each app creates its machine (app disk, state disk) and is not counted. Each sample then waits
// until both apps are asleep, so no wake overlaps the other app's stop or suspend, and the order
// of the two kinds alternates run to run, so both see the same drift in the host's load.
import { ColdApps, type ColdKind } from "./cold-apps.js";

export interface ColdSample {
  kind: ColdKind;
  ttfbMs: number;
  /** The x-walk-wake header of the response, e.g. "resume;dur=412.3". */
  wake: string;
}

/** `runs` cold requests per kind; `onSample` sees each as it is taken. */
export async function measureCold(runs: number, onSample: (s: ColdSample, run: number) => void): Promise<ColdSample[]> {
  const apps = await ColdApps.start();
  const samples: ColdSample[] = [];
  try {
    for (const kind of ["boot", "resume"] as const) await apps.get(kind);
    for (let run = 1; run <= runs; run++) {
      for (const kind of run % 2 === 1 ? (["boot", "resume"] as const) : (["resume", "boot"] as const)) {
        await apps.waitAsleep("boot");
        await apps.waitAsleep("resume");
        const r = await apps.get(kind);
        const wake = String(r.headers["x-walk-wake"]);
        // A resume that fell back to a boot would be counted as the wrong kind: stop instead.
        if (!wake.startsWith(`${kind};dur=`)) throw await apps.withLog(new Error(`a cold request to the ${kind} app answered with x-walk-wake ${wake}`));
        const s = { kind, ttfbMs: r.ttfbMs, wake };
        samples.push(s);
        onSample(s, run);
      }
    }
    // Asleep at the end too, so close() finds no machine running (what it kills is then a leftover).
    await apps.waitAsleep("boot");
    await apps.waitAsleep("resume");
  } finally {
    await apps.close();
  }
  return samples;
}
