// The timing headers every activator response carries (documented in docs/activator.md):
//   x-walk-wake:     "warm" | "boot;dur=<ms>" | "resume;dur=<ms>"  (the wake this request waited for)
//                    | "none" (walkd answered itself before any backend was ready for this request)
//   x-walk-ready-ms: ms this request was held before being forwarded (or answered by walkd)
//   server-timing:   walk-wake;desc=<kind>;dur=<ms>, walk-hold;dur=<ms>  (appended to the upstream's)
import type { OutgoingHttpHeaders } from "node:http";
import type { WakeInfo } from "./app-runtime.js";

const ms = (v: number): string => v.toFixed(1);

/** `wake`: the wake the request waited for, undefined when the backend was ready, "none" for walkd's own refusals. */
export function timingHeaders(wake: WakeInfo | undefined | "none", heldMs: number, upstreamServerTiming?: string | string[]): OutgoingHttpHeaders {
  const woke = typeof wake === "object" ? wake : undefined;
  const ours = [...(woke ? [`walk-wake;desc=${woke.kind};dur=${ms(woke.durMs)}`] : []), `walk-hold;dur=${ms(heldMs)}`].join(", ");
  const prior = Array.isArray(upstreamServerTiming) ? upstreamServerTiming.join(", ") : upstreamServerTiming;
  return {
    "x-walk-wake": woke ? `${woke.kind};dur=${ms(woke.durMs)}` : wake === "none" ? "none" : "warm",
    "x-walk-ready-ms": ms(heldMs),
    "server-timing": prior ? `${prior}, ${ours}` : ours,
  };
}
