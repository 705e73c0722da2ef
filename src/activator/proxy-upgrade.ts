// Forwards an HTTP Upgrade (websocket or any protocol switch) to a leased backend: relays the
// handshake, then pipes the two raw sockets both ways until either side closes. An upgraded
// pair counts as an open connection (idle never fires while it lives); the request's concurrency
// slot is given back at the switch. Either side ending closes both. Does not route, wake or queue.
import { request, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import type { Duplex } from "node:stream";
import type { Lease } from "./app-runtime.js";
import { endToEnd, rawHead, upstreamRequestHeaders } from "./headers.js";
import type { Page } from "./pages.js";
import { refusalPage } from "./pages.js";
import { UNREACHABLE, type ForwardContext, type Outcome } from "./proxy-http.js";

/** Writes a small response on a raw socket (there is no ServerResponse for upgrade requests) and closes it. */
export function sendRawPage(socket: Duplex, page: Page, extra: OutgoingHttpHeaders): void {
  const body = Buffer.from(page.body);
  const head = rawHead(page.status, page.status === 404 ? "Not Found" : "Error", {
    ...extra,
    "content-type": page.contentType,
    "content-length": body.length,
    connection: "close",
    ...(page.retryAfter !== undefined ? { "retry-after": String(page.retryAfter) } : {}),
  });
  socket.end(Buffer.concat([Buffer.from(head), body]));
}

export interface UpgradeContext extends ForwardContext {
  /** Counts the upgraded pair as activity; returns its close function. */
  openConnection(): () => void;
  /** Registers the pair so shutdown can close it. */
  track(sockets: Duplex[]): void;
}

export function forwardUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, lease: Lease, ctx: UpgradeContext, done: (o: Outcome) => void): void {
  const headers = upstreamRequestHeaders(req.headers, { remoteAddress: req.socket.remoteAddress, host: req.headers.host, proto: "http" }, true);
  const up = request({ host: lease.target.host, port: lease.target.port, method: req.method, path: req.url, headers, agent: false });
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
    if (!socket.destroyed) sendRawPage(socket, refusalPage(cause, ctx.app, ctx.retryAfterSeconds), ctx.timing(undefined));
    finish(cause);
  };
  const headerTimer = setTimeout(() => fail("upstream_timeout"), ctx.timeouts.headersTimeoutMs);
  const onClientClose = (): void => {
    up.destroy();
    finish("client_gone");
  };
  socket.once("close", onClientClose);
  socket.on("error", () => socket.destroy());
  up.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== undefined && UNREACHABLE.has(err.code)) lease.unreachable();
    fail("upstream_error");
  });
  up.on("upgrade", (upRes, upSocket, upHead) => {
    socket.off("close", onClientClose);
    const closeConnection = ctx.openConnection();
    finish("ok");
    ctx.track([socket, upSocket]);
    const out = { ...endToEnd(upRes.headers, true), ...ctx.timing(upRes.headers["server-timing"]) };
    socket.write(rawHead(101, upRes.statusMessage ?? "Switching Protocols", out));
    if (upHead.length > 0) socket.write(upHead);
    if (head.length > 0) upSocket.write(head);
    const close = (): void => {
      socket.destroy();
      upSocket.destroy();
      closeConnection();
    };
    // Either side ending ends the pair: upgrade protocols (websockets) do not half-close, and a
    // half-open pair would count as activity forever.
    for (const s of [socket, upSocket]) {
      s.on("end", close);
      s.on("close", close);
      s.on("error", close);
    }
    upSocket.pipe(socket);
    socket.pipe(upSocket);
  });
  up.on("response", (upRes) => {
    // The backend declined the switch: relay its answer and close.
    clearTimeout(headerTimer);
    socket.off("close", onClientClose);
    const out = { ...endToEnd(upRes.headers), ...ctx.timing(upRes.headers["server-timing"]), connection: "close" };
    delete out["content-length"];
    socket.write(rawHead(upRes.statusCode ?? 502, upRes.statusMessage ?? "", out));
    upRes.pipe(socket);
    upRes.on("end", () => finish("ok"));
    upRes.on("error", () => {
      socket.destroy();
      finish("upstream_error");
    });
  });
  up.end();
}
