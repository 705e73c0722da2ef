// Retry policy for registry requests: transient failures (connection resets, stalls, 5xx, 429)
// are retried with exponential backoff and full jitter, a bounded number of times, honouring a
// server's Retry-After and the caller's AbortSignal. What counts as transient is decided where the
// error is made (transport and reply mapping mark it).
import { WalkError, isWalkError } from "../../lib/errors.js";
import { isRetryable } from "./transport.js";
import type { Logger } from "../../lib/log.js";

export interface RetryOptions {
  /** Total attempts including the first. Default 4. */
  attempts?: number;
  /** First backoff step. Default 250 ms. */
  baseDelayMs?: number;
  /** Longest wait between attempts, also the cap on Retry-After. Default 30 s. */
  maxDelayMs?: number;
}

/**
 * Parses Retry-After: delay-seconds or an HTTP-date. Returns milliseconds from `now`, or
 * undefined when absent or malformed.
 */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^[0-9]+$/.test(v)) return Number(v) * 1000;
  // An HTTP-date names its day and month; without letters Date.parse would take "-5" as a year.
  if (!/[A-Za-z]{3}/.test(v)) return undefined;
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** The wait before retry number `attempt` (1-based): the server's request, else jittered backoff. */
export function retryDelay(attempt: number, err: unknown, opts: RetryOptions): number {
  const max = opts.maxDelayMs ?? 30_000;
  const asked = isWalkError(err) ? err.details?.retry_after_ms : undefined;
  if (typeof asked === "number") return Math.min(asked, max);
  const ceiling = Math.min(max, (opts.baseDelayMs ?? 250) * 2 ** (attempt - 1));
  return Math.random() * ceiling;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new WalkError("canceled", "canceled while waiting to retry"));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new WalkError("canceled", "canceled while waiting to retry"));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Runs `fn` until it succeeds, fails with a non-transient error, or the attempts run out. */
export async function withRetry<T>(what: string, fn: (attempt: number) => Promise<T>, opts: RetryOptions, signal?: AbortSignal, logger?: Logger): Promise<T> {
  const attempts = Math.max(1, opts.attempts ?? 4);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!isRetryable(err) || attempt >= attempts || signal?.aborted) throw err;
      const delay = retryDelay(attempt, err, opts);
      logger?.debug({ what, attempt, delay_ms: Math.round(delay), err: (err as Error).message }, "retrying registry request");
      await sleep(delay, signal);
    }
  }
}
