// Forwards one HTTP exchange to a leased backend: streams the request body up and the response
// down with pipe() (backpressure, no buffering), enforces the upstream header and idle timeouts,
// and propagates aborts both ways. Writes walkd's own error page only before any upstream byte
// reached the client. Does not route, wake or queue.
import { request, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from "node:http";
import type { Lease } from "./app-runtime.js";
import { endToEnd, upstreamRequestHeaders } from "./headers.js";
import type { RefusalCause } from "./metrics.js";
import { refusalPage, type Page } from "./pages.js";
import type { UpstreamTimeouts } from "./types.js";

export type Outcome = "ok" | "client_gone" | Extract<RefusalCause, "upstream_error" | "upstream_timeout">;

/** Connect errors after which no byte reached the backend: it is gone, not merely slow. */
export const UNREACHABLE = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN"]);

export function sendPage(res: ServerResponse, page: Page, extra: OutgoingHttpHeaders): void {
  const body = Buffer.from(page.body);
  res.writeHead(page.status, {
    ...extra,
    "content-type": page.contentType,
    "content-length": body.length,
    "cache-control": "no-store",
    ...(page.retryAfter !== undefined ? { "retry-after": String(page.retryAfter) } : {}),
  });
  res.end(res.req.method === "HEAD" ? undefined : body);
}

export interface ForwardContext {
  app: string;
  timeouts: UpstreamTimeouts;
  /** Timing headers for this response, given the upstream's own Server-Timing value. */
  timing(upstreamServerTiming: string | string[] | undefined): OutgoingHttpHeaders;
  retryAfterSeconds: number;
}

/** Proxies req/res through `lease`; calls `done` once with the outcome after releasing the lease. */
export function forwardHttp(req: IncomingMessage, res: ServerResponse, lease: Lease, ctx: ForwardContext, done: (o: Outcome) => void): void {
  const headers = upstreamRequestHeaders(req.headers, { remoteAddress: req.socket.remoteAddress, host: req.headers.host, proto: "http" });
  const up = request({ host: lease.target.host, port: lease.target.port, method: req.method, path: req.url, headers, agent: lease.agent });
  let settled = false;
  const finish = (o: Outcome): void => {
    if (settled) return;
    settled = true;
    clearTimeout(headerTimer);
    lease.release();
    done(o);
  };
  const fail = (cause: Extract<Outcome, "upstream_error" | "upstream_timeout">): void => {
    if (settled) return;
    up.destroy();
    if (!res.headersSent && !res.destroyed) sendPage(res, refusalPage(cause, ctx.app, ctx.retryAfterSeconds), ctx.timing(undefined));
    else res.destroy();
    finish(cause);
  };
  const headerTimer = setTimeout(() => fail("upstream_timeout"), ctx.timeouts.headersTimeoutMs);
  up.setTimeout(ctx.timeouts.idleTimeoutMs, () => fail("upstream_timeout"));
  up.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== undefined && UNREACHABLE.has(err.code)) lease.unreachable();
    fail("upstream_error");
  });
  up.on("response", (upRes) => {
    clearTimeout(headerTimer);
    const out = { ...endToEnd(upRes.headers), ...ctx.timing(upRes.headers["server-timing"]) };
    res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, out);
    upRes.pipe(res);
    upRes.on("aborted", () => fail("upstream_error"));
    upRes.on("error", () => fail("upstream_error"));
    res.on("finish", () => finish("ok"));
  });
  res.on("close", () => {
    if (settled || res.writableFinished) return;
    up.destroy();
    finish("client_gone");
  });
  req.pipe(up);
}
