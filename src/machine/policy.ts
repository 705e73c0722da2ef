// Restart policies (`no`, `on-failure[:N]`, `always`) and their exponential backoff: whether a
// machine whose VM ended should be started again, and after how long. Pure decisions; the
// service (service.ts) records them and runs the timers.
import { WalkError } from "../lib/index.js";
import type { RestartPolicyName } from "../store/index.js";

export interface RestartPolicy {
  name: RestartPolicyName;
  /** on-failure only: the most automatic restarts after failures; undefined means no limit. */
  maxRetries?: number;
}

export interface BackoffConfig {
  /** Delay before the first automatic restart. */
  initialMs: number;
  /** The delay doubles per consecutive short run, up to this. */
  maxMs: number;
  /** A run at least this long resets the doubling (the machine was healthy for a while). */
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffConfig = { initialMs: 1000, maxMs: 60_000, resetAfterMs: 10_000 };

const MAX_RETRIES_LIMIT = 1_000_000;

/** Parses `no`, `always`, `on-failure` or `on-failure:N`. */
export function parseRestartPolicy(text: string): RestartPolicy {
  if (text === "no" || text === "always" || text === "on-failure") return { name: text };
  const m = /^on-failure:(\d{1,7})$/.exec(text);
  if (m) {
    const n = Number(m[1]);
    if (n <= MAX_RETRIES_LIMIT) return { name: "on-failure", maxRetries: n };
  }
  throw new WalkError("invalid_argument", `restart policy ${JSON.stringify(text)} is not one of no, on-failure, on-failure:N (N from 0 to ${MAX_RETRIES_LIMIT}) or always`);
}

export function formatRestartPolicy(p: RestartPolicy): string {
  return p.name === "on-failure" && p.maxRetries !== undefined ? `on-failure:${p.maxRetries}` : p.name;
}

/** What a run's end means for the policy: a clean exit (code 0) or a failure (anything else, crashes included). */
export type RunOutcome = "success" | "failure";

export interface RestartDecision {
  restart: boolean;
  /** Delay before the restart. */
  delayMs: number;
  /** The streak to record: consecutive short runs, the backoff exponent. */
  streak: number;
}

/**
 * Decides about an automatic restart after a run that was not stopped by request.
 * `restartCount` is the automatic restarts since the last user start; `ranMs` how long the run lasted.
 */
export function decideRestart(policy: RestartPolicy, outcome: RunOutcome, restartCount: number, streak: number, ranMs: number, backoff: BackoffConfig): RestartDecision {
  const nextStreak = ranMs >= backoff.resetAfterMs ? 0 : streak + 1;
  const delayMs = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(30, Math.max(0, nextStreak - 1)));
  const restart =
    policy.name === "always" ||
    (policy.name === "on-failure" && outcome === "failure" && (policy.maxRetries === undefined || restartCount < policy.maxRetries));
  return { restart, delayMs, streak: nextStreak };
}
