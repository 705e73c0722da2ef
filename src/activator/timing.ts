// The timing headers every activator response carries (documented in docs/activator.md), as
// complete header lines for a raw HTTP/1.1 head:
//   x-walk-wake:     "warm" | "boot;dur=<ms>" | "resume;dur=<ms>"  (the wake this request waited for)
//                    | "none" (walkd answered itself before any backend was ready for this request)
//   x-walk-ready-ms: ms this request was held before being forwarded (or answered by walkd)
//   server-timing:   walk-wake;desc=<kind>;dur=<ms>, walk-hold;dur=<ms>  (appended to the upstream's)
import type { WakeInfo } from "./app-runtime.js";

const ms = (v: number): string => v.toFixed(1);

/** The lines of a request that found its backend ready and waited for nothing, without upstream Server-Timing. */
export const WARM_TIMING = "x-walk-wake: warm\r\nx-walk-ready-ms: 0.0\r\nserver-timing: walk-hold;dur=0.0\r\n";

/** `wake`: the wake the request waited for, undefined when the backend was ready, "none" for walkd's own refusals. */
export function timingLines(wake: WakeInfo | undefined | "none", heldMs: number, upstreamServerTiming?: string): string {
  if (wake === undefined && heldMs === 0 && upstreamServerTiming === undefined) return WARM_TIMING;
  const woke = typeof wake === "object" ? wake : undefined;
  const ours = woke ? `walk-wake;desc=${woke.kind};dur=${ms(woke.durMs)}, walk-hold;dur=${ms(heldMs)}` : `walk-hold;dur=${ms(heldMs)}`;
  const header = woke ? `${woke.kind};dur=${ms(woke.durMs)}` : wake === "none" ? "none" : "warm";
  return `x-walk-wake: ${header}\r\nx-walk-ready-ms: ${ms(heldMs)}\r\nserver-timing: ${upstreamServerTiming ? `${upstreamServerTiming}, ${ours}` : ours}\r\n`;
}
