// One proxied HTTP exchange over a leased backend: sends the request head walkd writes and the
// request body (re-framed), reads the backend's response head strictly, relays interim (1xx)
// responses, then streams the body to the client (re-framed when needed) with backpressure both
// ways. A protocol switch (101 to an upgrade request) turns it into a raw pipe. Enforces the
// upstream timeouts, propagates aborts both ways, retries once on a fresh connection an idempotent
// bodiless request whose reused connection the backend had just closed, and writes walkd's own
// error page only while no response byte reached the client. Does not route, wake or queue.
import type { Socket } from "node:net";
import type { Lease } from "./app-runtime.js";
import type { BodySink, ClientConnection, ClientEvents } from "./client-connection.js";
import { BodyError, BodyReader } from "./http1/body.js";
import { HeadError, hasBody, parseResponseHead, type RequestHead, type ResponseHead } from "./http1/head.js";
import { clientResponseHead, upstreamRequestHead, type OutFraming } from "./http1/write.js";
import type { RefusalCause } from "./metrics.js";
import { badRequestPage, refusalPage } from "./pages.js";
import type { UpstreamConn, UpstreamOwner } from "./upstream-pool.js";
import type { UpstreamTimeouts } from "./types.js";

export type Outcome = "ok" | "client_gone" | "bad_request" | Extract<RefusalCause, "upstream_error" | "upstream_timeout">;

/** Connect errors after which no byte reached the backend: it is gone, not merely slow. */
const UNREACHABLE = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN"]);
/** Largest response head accepted from a backend. */
const MAX_RESPONSE_HEAD = 64 * 1024;
/** Interim (1xx) responses relayed before a final one, at most. */
const MAX_INTERIM = 32;
/** Methods a request may be retried with after its reused connection failed before any answer (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);
const CRLF2 = Buffer.from("\r\n\r\n");
const LAST_CHUNK = "0\r\n\r\n";

export interface ExchangeContext {
  app: string;
  timeouts: UpstreamTimeouts;
  retryAfterSeconds: number;
  /** Timing header lines for this response, given the backend's own Server-Timing value. */
  timing: (upstreamServerTiming: string | undefined) => string;
  /** Called once, after the lease was released. */
  done(o: Outcome): void;
  /** Registers an upgraded pair so shutdown can close it. */
  track(sockets: Socket[]): void;
  /** A backend answered in a way walkd refuses to relay (logged, never shown to the client). */
  badUpstream(message: string): void;
}

export function proxyExchange(client: ClientConnection, req: RequestHead, lease: Lease, ctx: ExchangeContext): void {
  new Exchange(client, req, lease, ctx).start();
}

class Exchange implements UpstreamOwner, BodySink, ClientEvents {
  private up!: UpstreamConn;
  private upBuf: Buffer | null = null;
  private searchFrom = 0;
  private requestSent = false;
  private reader: BodyReader | undefined;
  private out: OutFraming = "none";
  private headSent = false;
  private responseDone = false;
  private reusable = true;
  private closeClient: boolean;
  private interim = 0;
  private gotBytes = false;
  private retried = false;
  private settled = false;
  private upPaused = false;

  constructor(
    private readonly client: ClientConnection,
    private readonly req: RequestHead,
    private readonly lease: Lease,
    private readonly ctx: ExchangeContext,
  ) {
    this.closeClient = !req.keepAlive || req.upgrade !== undefined;
  }

  start(): void {
    this.client.events = this;
    this.up = this.req.upgrade === undefined ? this.lease.pool.acquire(this) : this.lease.pool.connect(this);
    this.sendHead();
    this.client.startBody(new BodyReader(this.req.framing), this);
  }

  private sendHead(): void {
    this.up.socket.setTimeout(this.ctx.timeouts.headersTimeoutMs);
    this.up.socket.write(upstreamRequestHead(this.req, { remoteAddress: this.client.remoteAddress }), "latin1");
  }

  // ---- request body (client → upstream)

  bodyData(chunks: Buffer[]): void {
    if (!writeBody(this.up.socket, chunks, this.req.framing.kind === "chunked")) this.client.pauseBody();
  }

  bodyEnd(): void {
    if (this.req.framing.kind === "chunked") this.up.socket.write(LAST_CHUNK, "latin1");
    this.requestSent = true;
    if (this.responseDone) this.complete();
  }

  bodyError(err: BodyError): void {
    if (this.settled) return;
    this.up.destroy();
    this.settle("bad_request", false, () => {
      if (this.headSent || this.client.closed) return this.client.destroy();
      this.client.reply(badRequestPage(400, err.message), "", this.req, true);
    });
  }

  onUpstreamDrain(): void {
    this.client.resumeBody();
  }

  // ---- response (upstream → client)

  onUpstreamData(chunk: Buffer): void {
    if (this.settled) return;
    this.gotBytes = true;
    if (this.reader !== undefined) return this.relayBody(chunk);
    this.upBuf = this.upBuf === null ? chunk : Buffer.concat([this.upBuf, chunk]);
    this.readHeads();
  }

  private readHeads(): void {
    while (this.upBuf !== null && this.reader === undefined && !this.settled) {
      const buf = this.upBuf;
      const end = buf.indexOf(CRLF2, this.searchFrom);
      if (end < 0) {
        if (buf.length > MAX_RESPONSE_HEAD) return this.badResponse(`response head larger than ${MAX_RESPONSE_HEAD} bytes`);
        this.searchFrom = Math.max(0, buf.length - 3);
        return;
      }
      let res: ResponseHead;
      try {
        res = parseResponseHead(buf.toString("latin1", 0, end), this.req.method);
      } catch (err) {
        if (err instanceof HeadError) return this.badResponse(err.message);
        throw err;
      }
      const rest = end + 4 < buf.length ? buf.subarray(end + 4) : null;
      this.searchFrom = 0;
      this.upBuf = null;
      if (res.status === 101) return this.switchProtocols(res, rest);
      if (res.status < 200) {
        this.upBuf = rest;
        if (++this.interim > MAX_INTERIM) return this.badResponse(`more than ${MAX_INTERIM} interim responses`);
        // HTTP/1.1 clients parse 1xx responses they did not ask for (RFC 9110 §15.2); 1.0 clients cannot.
        if (this.req.minor === 1) this.client.socket.write(clientResponseHead(res, "none", undefined, false), "latin1");
        continue;
      }
      // Bytes after a bodiless response were not asked for: the connection is not reused.
      if (rest !== null && res.framing.kind === "none") this.reusable = false;
      // Head and the first body bytes leave in one write.
      const client = this.client.socket;
      client.cork();
      this.startResponse(res);
      if (rest !== null && !this.responseDone) this.relayBody(rest);
      client.uncork();
    }
  }

  private startResponse(res: ResponseHead): void {
    this.reader = new BodyReader(res.framing);
    const f = res.framing.kind;
    this.out = f === "none" || f === "length" ? f : this.req.minor === 1 ? "chunked" : "close";
    if (this.out === "close") this.closeClient = true;
    if (!res.reusable || this.req.upgrade !== undefined) this.reusable = false;
    // A response that starts before the request body was all forwarded ends the client connection.
    if (!this.requestSent) this.closeClient = true;
    this.up.socket.setTimeout(this.ctx.timeouts.idleTimeoutMs);
    this.client.socket.write(clientResponseHead(res, this.out, this.ctx.timing, this.closeClient), "latin1");
    this.headSent = true;
    if (this.reader.done) this.responseEnded();
  }

  private relayBody(chunk: Buffer): void {
    const parts: Buffer[] = [];
    let used: number;
    try {
      used = this.reader!.read(chunk, parts);
    } catch (err) {
      if (err instanceof BodyError) return this.badResponse(err.message);
      throw err;
    }
    if (parts.length > 0 && !writeBody(this.client.socket, parts, this.out === "chunked") && !this.upPaused) {
      this.upPaused = true;
      this.up.socket.pause();
    }
    if (used < chunk.length) this.reusable = false;
    if (this.reader!.done) this.responseEnded();
  }

  clientDrained(): void {
    if (!this.upPaused) return;
    this.upPaused = false;
    this.up.socket.resume();
  }

  private responseEnded(): void {
    if (this.responseDone) return;
    this.responseDone = true;
    if (this.out === "chunked") this.client.socket.write(LAST_CHUNK, "latin1");
    this.complete();
  }

  /** The response is complete: reuse the upstream connection if the request is complete too. */
  private complete(): void {
    if (this.settled) return;
    if (!this.requestSent) {
      // The backend answered without taking the whole body: neither connection can carry another request.
      this.reusable = false;
      this.closeClient = true;
    }
    if (this.reusable) this.lease.pool.release(this.up);
    else this.up.destroy();
    this.settle("ok", !this.closeClient);
  }

  onUpstreamEnd(): void {
    if (this.settled) return;
    this.reusable = false;
    if (this.reader !== undefined) {
      try {
        this.reader.end();
      } catch {
        return this.fail("upstream_error");
      }
      return this.responseEnded();
    }
    this.upstreamLost(undefined);
  }

  onUpstreamClose(err: NodeJS.ErrnoException | undefined): void {
    if (this.settled) return;
    if (this.reader !== undefined && !this.responseDone) {
      // Closed mid-body: a close-delimited body ends here; any other is truncated.
      return this.onUpstreamEnd();
    }
    if (this.reader === undefined) this.upstreamLost(err);
  }

  /** The connection ended before a response head: retry once, or answer 502. */
  private upstreamLost(err: NodeJS.ErrnoException | undefined): void {
    const retryable = this.up.reused && !this.gotBytes && !this.retried && this.requestSent && !hasBody(this.req.framing) && IDEMPOTENT.has(this.req.method);
    if (retryable) {
      this.retried = true;
      this.reusable = true;
      this.up.destroy();
      this.up = this.lease.pool.connect(this);
      this.sendHead();
      return;
    }
    if (err?.code !== undefined && UNREACHABLE.has(err.code)) this.lease.unreachable();
    this.fail("upstream_error");
  }

  onUpstreamTimeout(): void {
    this.fail("upstream_timeout");
  }

  private badResponse(message: string): void {
    this.ctx.badUpstream(message);
    this.fail("upstream_error");
  }

  /** Ends the exchange on an upstream failure: walkd's page if the client got nothing yet, else a cut. */
  private fail(cause: "upstream_error" | "upstream_timeout"): void {
    if (this.settled) return;
    this.up.destroy();
    if (!this.headSent && !this.client.closed) {
      const extra = this.ctx.timing(undefined);
      this.settle(cause, false, () => this.client.reply(refusalPage(cause, this.ctx.app, this.ctx.retryAfterSeconds), extra, this.req, this.closeClient || !this.requestSent));
      return;
    }
    this.client.destroy();
    this.settle(cause, false);
  }

  // ---- the client

  clientGone(): void {
    if (this.settled) return;
    this.up.destroy();
    this.settle("client_gone", false);
  }

  /**
   * The backend switched protocols: relay its 101 and pipe the two raw sockets until either side
   * closes. The pair is an open connection (idle waits for it) but gives its concurrency slot back.
   */
  private switchProtocols(res: ResponseHead, rest: Buffer | null): void {
    if (this.req.upgrade === undefined) return this.badResponse("101 to a request that asked for no upgrade");
    this.up.socket.setTimeout(0);
    const upSocket = this.up.detach();
    const { socket, buffered } = this.client.detach();
    socket.write(clientResponseHead(res, "none", this.ctx.timing, false), "latin1");
    if (rest !== null) socket.write(rest);
    if (buffered !== null) upSocket.write(buffered);
    // An upgraded pair is activity on its instance until it closes.
    const closeConnection = this.lease.openConnection();
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
    this.ctx.track([socket, upSocket]);
    this.settled = true;
    this.lease.release();
    this.ctx.done("ok");
  }

  /** Releases the lease, reports the outcome, then lets the client connection go on (or close). */
  private settle(o: Outcome, keepAlive: boolean, answer?: () => void): void {
    this.settled = true;
    this.lease.release();
    this.ctx.done(o);
    if (answer !== undefined) answer();
    else this.client.finish(keepAlive && !this.client.closed);
  }
}

/**
 * Writes body pieces in one syscall, each as a chunk when `chunked` (walkd re-frames what it
 * decoded); false when the socket's buffer is full and the sender should pause.
 */
function writeBody(s: Socket, parts: Buffer[], chunked: boolean): boolean {
  let ok = true;
  s.cork();
  for (const p of parts) {
    if (chunked) s.write(`${p.length.toString(16)}\r\n`, "latin1");
    ok = s.write(p);
    if (chunked) ok = s.write("\r\n", "latin1");
  }
  s.uncork();
  return ok;
}
