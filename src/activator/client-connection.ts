// One client connection to the activator, HTTP/1.1 on a raw socket: reads request heads (bounded
// in size and time), hands each request to the activator, feeds its body to the exchange that
// forwards it, and goes on with the next request once the exchange finished (keep-alive, and
// pipelined requests strictly in order). Writes walkd's own responses (refusal pages, bad
// requests). Owns the client socket and its timeouts; does not route, wake or talk to backends.
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import { BodyError, BodyReader } from "./http1/body.js";
import { HeadError, hasBody, parseRequestHead, type RequestHead } from "./http1/head.js";
import { httpDate } from "./http1/write.js";
import { badRequestPage, type Page } from "./pages.js";

const CRLF2 = Buffer.from("\r\n\r\n");

/**
 * Bytes a client may send ahead (pipelined requests) while its current request is held or
 * answered; beyond it the socket is paused until the exchange ends.
 */
const READ_AHEAD_BYTES = 64 * 1024;
/** After walkd decided to close, the client's remaining input is read and dropped this long, so
 * the kernel does not reset the connection before the client has read walkd's answer. */
const LINGER_MS = 2_000;

export interface ConnectionOptions {
  /** Largest request head (request line and fields), bytes; more gets 431. */
  maxHeaderSize: number;
  /** Time from a request head's first byte to its end; then 408. */
  headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeoutMs: number;
}

/** Where an exchange gets the request body. */
export interface BodySink {
  bodyData(chunks: Buffer[]): void;
  bodyEnd(): void;
  bodyError(err: BodyError): void;
}

/** What the connection tells the exchange in progress. */
export interface ClientEvents {
  /** The client closed or reset the connection. */
  clientGone(): void;
  /** The client socket drained: the exchange may write again. */
  clientDrained(): void;
}

/** A parsed request (or the status to refuse it with), for the activator. */
export type RequestHandler = (conn: ClientConnection, req: RequestHead) => void;
export type BadRequestHandler = (status: number, message: string) => void;

type State = "idle" | "head" | "dispatch" | "held" | "body" | "busy" | "closing" | "detached";

export class ClientConnection {
  private state: State = "idle";
  private buf: Buffer | null = null;
  private searchFrom = 0;
  private headStart = 0;
  private parsing = false;
  private reader: BodyReader | undefined;
  private sink: BodySink | undefined;
  private bodyPaused = false;
  /** The exchange (or the held request) in progress. */
  events: ClientEvents | undefined;
  readonly remoteAddress: string;

  constructor(
    readonly socket: Socket,
    private readonly opts: ConnectionOptions,
    private readonly onRequest: RequestHandler,
    private readonly onBadRequest: BadRequestHandler,
  ) {
    this.remoteAddress = socket.remoteAddress ?? "unknown";
    socket.setTimeout(opts.keepAliveTimeoutMs);
    socket.on("data", (c: Buffer) => this.onData(c));
    // A client that ends its side is gone (as node's server has it): half-open clients are not
    // served. After walkd's own end, the socket closes by itself once what walkd wrote is flushed.
    socket.on("end", () => {
      if (this.state !== "closing") socket.destroy();
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => this.onClose());
    socket.on("drain", () => this.events?.clientDrained());
    socket.on("timeout", () => this.onTimeout());
  }

  get closed(): boolean {
    return this.socket.destroyed;
  }

  /** Starts feeding the current request's body to `sink` (the exchange forwarding it). */
  startBody(reader: BodyReader, sink: BodySink): void {
    this.reader = reader;
    this.sink = sink;
    if (reader.done) return this.bodyFinished();
    this.state = "body";
    const b = this.buf;
    this.buf = null;
    if (b !== null) this.feedBody(b);
    if (this.socket.isPaused() && !this.bodyPaused) this.socket.resume();
  }

  /** The upstream cannot take more body for now. */
  pauseBody(): void {
    this.bodyPaused = true;
    this.socket.pause();
  }

  resumeBody(): void {
    if (!this.bodyPaused) return;
    this.bodyPaused = false;
    if (this.state === "body") this.socket.resume();
  }

  /** The exchange ended: with keepAlive, go on with the next request; otherwise close. */
  finish(keepAlive: boolean): void {
    this.events = undefined;
    this.reader = undefined;
    this.sink = undefined;
    if (this.socket.destroyed) return;
    if (!keepAlive) return this.closeGracefully();
    this.state = "idle";
    this.bodyPaused = false;
    if (this.socket.isPaused()) this.socket.resume();
    if (!this.parsing && this.buf !== null) this.parseHeads();
  }

  /** Writes one of walkd's own responses (no body for HEAD); `close` ends the connection after it. */
  reply(page: Page, extraLines: string, req: RequestHead | undefined, close: boolean): void {
    const body = Buffer.from(page.body);
    // A request whose body walkd did not read cannot be followed by another on this connection.
    const unreadBody = req !== undefined && hasBody(req.framing) && this.state !== "busy";
    const closing = close || unreadBody || req === undefined || !req.keepAlive;
    let head = `HTTP/1.1 ${page.status} ${STATUS_CODES[page.status] ?? "Error"}\r\ndate: ${httpDate()}\r\ncontent-type: ${page.contentType}\r\ncontent-length: ${body.length}\r\ncache-control: no-store\r\n`;
    if (page.retryAfter !== undefined) head += `retry-after: ${page.retryAfter}\r\n`;
    head += extraLines;
    if (closing) head += "connection: close\r\n";
    this.socket.cork();
    this.socket.write(`${head}\r\n`, "latin1");
    if (req?.method !== "HEAD") this.socket.write(body);
    this.socket.uncork();
    this.finish(!closing);
  }

  /** Hands the raw socket over (a protocol switch) with what the client sent after the head. */
  detach(): { socket: Socket; buffered: Buffer | null } {
    this.state = "detached";
    this.events = undefined;
    for (const ev of ["data", "end", "close", "drain", "timeout"]) this.socket.removeAllListeners(ev);
    this.socket.setTimeout(0);
    const buffered = this.buf;
    this.buf = null;
    return { socket: this.socket, buffered };
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    switch (this.state) {
      case "idle":
      case "head":
        this.append(chunk);
        if (!this.parsing) this.parseHeads();
        return;
      case "body":
        return this.feedBody(chunk);
      case "closing":
        return; // lingering: read and dropped
      default:
        // Held or answered: what comes now is the next request; bounded read-ahead.
        this.append(chunk);
        if (this.buf !== null && this.buf.length > READ_AHEAD_BYTES) this.socket.pause();
    }
  }

  private append(chunk: Buffer): void {
    this.buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
  }

  private parseHeads(): void {
    this.parsing = true;
    try {
      while ((this.state === "idle" || this.state === "head") && this.buf !== null) {
        let buf: Buffer = this.buf;
        if (this.state === "idle") {
          // RFC 9112 §2.2: empty lines before a request line are ignored.
          let skip = 0;
          while (skip + 1 < buf.length && buf[skip] === 13 && buf[skip + 1] === 10) skip += 2;
          if (skip > 0) buf = buf.subarray(skip);
          this.buf = buf.length > 0 ? buf : null;
          if (this.buf === null || (buf.length === 1 && buf[0] === 13)) return;
          this.state = "head";
          this.searchFrom = 0;
          this.headStart = performance.now();
        }
        const end = buf.indexOf(CRLF2, this.searchFrom);
        if (end < 0 || end > this.opts.maxHeaderSize) {
          if (buf.length > this.opts.maxHeaderSize) return this.refuse(431, "request head too large");
          if (performance.now() - this.headStart > this.opts.headersTimeoutMs) return this.refuse(408, "request head not received in time");
          this.searchFrom = Math.max(0, buf.length - 3);
          return;
        }
        const text = buf.toString("latin1", 0, end);
        this.buf = end + 4 < buf.length ? buf.subarray(end + 4) : null;
        let req: RequestHead;
        try {
          req = parseRequestHead(text);
        } catch (err) {
          if (err instanceof HeadError) return this.refuse(err.status, err.message);
          throw err;
        }
        this.state = "dispatch";
        this.onRequest(this, req);
        if (this.state === "dispatch") this.state = "held";
      }
    } finally {
      this.parsing = false;
    }
  }

  private feedBody(chunk: Buffer): void {
    const out: Buffer[] = [];
    let used: number;
    try {
      used = this.reader!.read(chunk, out);
    } catch (err) {
      if (!(err instanceof BodyError)) throw err;
      const sink = this.sink!;
      this.state = "busy";
      sink.bodyError(err);
      return;
    }
    if (out.length > 0) this.sink!.bodyData(out);
    if (this.reader!.done) {
      if (used < chunk.length) this.append(chunk.subarray(used));
      this.bodyFinished();
    }
  }

  private bodyFinished(): void {
    this.state = "busy";
    if (this.buf !== null && this.buf.length > READ_AHEAD_BYTES) this.socket.pause();
    this.sink!.bodyEnd();
  }

  /** Answers a request walkd cannot parse, then closes. */
  private refuse(status: number, message: string): void {
    this.onBadRequest(status, message);
    this.buf = null;
    this.reply(badRequestPage(status, message), "", undefined, true);
  }

  private closeGracefully(): void {
    if (this.state === "closing") return;
    this.state = "closing";
    this.buf = null;
    this.socket.end();
    this.socket.setTimeout(LINGER_MS);
    if (this.socket.isPaused()) this.socket.resume();
  }

  private onTimeout(): void {
    switch (this.state) {
      case "idle":
      case "closing":
        this.socket.destroy();
        return;
      case "head":
        if (performance.now() - this.headStart > this.opts.headersTimeoutMs) return this.refuse(408, "request head not received in time");
        break;
      default:
    }
    // Exchanges are bounded by the upstream timeouts, not the client's silence: re-arm and wait.
    this.socket.setTimeout(this.opts.keepAliveTimeoutMs);
  }

  private onClose(): void {
    const ev = this.events;
    this.events = undefined;
    ev?.clientGone();
  }
}
