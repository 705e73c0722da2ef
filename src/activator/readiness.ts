// Readiness: polls a woken backend until its port accepts TCP and, if configured, its health
// check passes. Ends when ready, when `signal` aborts (the wake budget) or when the backend ends.
// Never forwards client traffic.
import { request } from "node:http";
import { connect } from "node:net";
import { WalkError } from "../lib/index.js";
import type { BackendTarget, HealthCheck } from "./types.js";

const FIRST_RETRY_MS = 10;
const MAX_RETRY_MS = 200;
const CONNECT_TIMEOUT_MS = 1000;
const DEFAULT_HTTP_TIMEOUT_MS = 2000;

function tcpAccepts(t: BackendTarget): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: t.host, port: t.port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(CONNECT_TIMEOUT_MS, () => done(false));
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
  });
}

function httpHealthy(t: BackendTarget, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: t.host, port: t.port, path, method: "GET", agent: false, headers: { "user-agent": "walk-activator-health" }, timeout: timeoutMs });
    req.once("response", (res) => {
      const code = res.statusCode ?? 0;
      res.resume();
      req.destroy();
      resolve(code >= 200 && code < 400);
    });
    req.once("timeout", () => req.destroy());
    req.once("error", () => resolve(false));
    req.end();
  });
}

/** One probe: the port accepts and, if configured, the health check passes (each bounded by its timeout). */
export async function isReady(t: BackendTarget, check: HealthCheck | undefined): Promise<boolean> {
  if (!(await tcpAccepts(t))) return false;
  if (check === undefined || check.type === "tcp") return true;
  return httpHealthy(t, check.path, check.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS);
}

/**
 * Resolves once the backend is ready. Rejects with the signal's reason when it aborts, or with
 * WalkError("unavailable") when `ended` settles first (the backend exited while starting).
 */
export async function waitReady(t: BackendTarget, check: HealthCheck | undefined, signal: AbortSignal, ended?: Promise<unknown>): Promise<void> {
  const ENDED = new WalkError("unavailable", `backend at ${t.host}:${t.port} ended before it was ready`);
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  void ended?.then(
    () => stop.abort(ENDED),
    () => stop.abort(ENDED),
  );
  try {
    let delay = FIRST_RETRY_MS;
    for (;;) {
      stop.signal.throwIfAborted();
      if (await isReady(t, check)) return;
      await sleep(delay, stop.signal);
      delay = Math.min(delay * 2, MAX_RETRY_MS);
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
