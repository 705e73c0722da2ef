// Request placement across an app's instances, as a pure decision: which ready instance takes the
// next request, and whether another instance should start waking. No timers, no state: the app
// runtime (app-runtime.ts) feeds it a snapshot and carries the decision out.

export type InstanceState = "stopped" | "waking" | "ready" | "idling";

export interface InstanceLoad {
  state: InstanceState;
  /** Requests in flight to the instance's current target. */
  inFlight: number;
  /** A stopped instance may be woken to scale out (false while it backs off after a failure). */
  canWake: boolean;
}

export interface Placement {
  /** The instance that takes the request now; undefined: the request waits. */
  use?: number;
  /** A stopped instance to start waking. */
  wake?: number;
}

/**
 * The least-loaded ready instance below `soft` takes the request (ties: the lowest index, so load
 * concentrates and the others can go idle). When every ready instance is at or above `soft`, the
 * lowest stopped instance starts waking, one wake at a time, and the request goes to the
 * least-loaded ready instance below `hard` if there is one, else waits. With nothing ready and
 * nothing waking, the lowest stopped instance wakes even while it backs off: a request never
 * waits on nothing. A soft limit above the hard one acts as the hard one.
 */
export function place(loads: readonly InstanceLoad[], soft: number, hard: number): Placement {
  const belowSoft = leastLoaded(loads, Math.min(soft, hard));
  if (belowSoft !== undefined) return { use: belowSoft };
  const anyReady = loads.some((l) => l.state === "ready");
  const wake = loads.some((l) => l.state === "waking") ? -1 : loads.findIndex((l) => l.state === "stopped" && (l.canWake || !anyReady));
  const use = leastLoaded(loads, hard);
  return { ...(use !== undefined ? { use } : {}), ...(wake >= 0 ? { wake } : {}) };
}

function leastLoaded(loads: readonly InstanceLoad[], below: number): number | undefined {
  let best: number | undefined;
  loads.forEach((l, i) => {
    if (l.state === "ready" && l.inFlight < below && (best === undefined || l.inFlight < loads[best]!.inFlight)) best = i;
  });
  return best;
}
