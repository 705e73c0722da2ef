// The timing headers every activator response carries (documented in docs/activator.md):
//   x-walk-wake:     "warm" | "boot;dur=<ms>" | "resume;dur=<ms>"  (the wake this request waited for)
//   x-walk-ready-ms: ms this request was held before being forwarded (or answered by walkd)
//   server-timing:   walk-wake;desc=<kind>;dur=<ms>, walk-hold;dur=<ms>  (appended to the upstream's)
import type { OutgoingHttpHeaders } from "node:http";
import type { WakeInfo } from "./app-runtime.js";

const ms = (v: number): string => v.toFixed(1);

export function timingHeaders(wake: WakeInfo | undefined, heldMs: number, upstreamServerTiming?: string | string[]): OutgoingHttpHeaders {
  const ours = [...(wake ? [`walk-wake;desc=${wake.kind};dur=${ms(wake.durMs)}`] : []), `walk-hold;dur=${ms(heldMs)}`].join(", ");
  const prior = Array.isArray(upstreamServerTiming) ? upstreamServerTiming.join(", ") : upstreamServerTiming;
  return {
    "x-walk-wake": wake ? `${wake.kind};dur=${ms(wake.durMs)}` : "warm",
    "x-walk-ready-ms": ms(heldMs),
    "server-timing": prior ? `${prior}, ${ours}` : ours,
  };
}
