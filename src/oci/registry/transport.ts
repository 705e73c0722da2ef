// HTTP(S) transport for registry traffic over node:http/node:https. Owns: one keep-alive agent per
// origin with that host's TLS material, the plain-HTTP policy, connect and stall timeouts, manual
// redirects with a hop limit, and the rule that the Authorization header only ever goes to the
// origin it was issued for (blob storage redirects get none). Knows nothing of the registry API.
import http from "node:http";
import https from "node:https";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { WalkError } from "../../lib/errors.js";
import { readBounded } from "../../lib/bounded.js";
import { plainHttpAllowed, type PlainHttpPolicy } from "./endpoint.js";
import { DEFAULT_CERTS_DIRS, loadTlsMaterial, type TlsMaterial } from "./tls.js";

export interface TransportOptions extends PlainHttpPolicy {
  /** Directories searched for HOST[:PORT]/ TLS material. Default /etc/walk/certs.d, /etc/docker/certs.d. */
  certsDirs?: readonly string[];
  /** Time allowed to establish a connection (TCP and TLS). Default 15 s. */
  connectTimeoutMs?: number;
  /** Time a request may go without any bytes moving, waiting for headers or mid-body. Default 30 s. */
  idleTimeoutMs?: number;
  /** Redirects followed per request. Default 5. */
  maxRedirects?: number;
  userAgent?: string;
}

export interface SendOptions {
  method?: "GET" | "HEAD" | "POST";
  headers?: Record<string, string>;
  /** Sent as Authorization, but only to the origin of the URL passed to send(). */
  authorization?: string;
  body?: string;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The URL that answered, after redirects. */
  url: URL;
  body: IncomingMessage;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Errors that say the connection broke rather than that the peer refused: worth retrying. */
const TRANSIENT_ERRNOS = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "ECONNABORTED", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/** A WalkError that the retry policy may retry; `retryAfterMs` is a server's requested delay. */
export function transientError(code: "unavailable" | "timeout", message: string, cause?: unknown, retryAfterMs?: number): WalkError {
  return new WalkError(code, message, { cause, details: { transient: true, ...(retryAfterMs === undefined ? {} : { retry_after_ms: retryAfterMs }) } });
}

/** True for errors a retry may cure: marked transient, or a broken connection (reset, hang-up). */
export function isRetryable(err: unknown): boolean {
  if (err instanceof WalkError) return err.details?.transient === true;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && TRANSIENT_ERRNOS.has(code);
}

/** True when an HTTPS attempt reached a server that speaks plain HTTP. */
export function isPlainHttpServerError(err: unknown): boolean {
  const cause = err instanceof WalkError ? err.cause : err;
  return (cause as NodeJS.ErrnoException | undefined)?.code === "EPROTO" && /wrong version number/i.test((cause as Error).message);
}

export class HttpTransport {
  private readonly agents = new Map<string, Promise<http.Agent>>();
  private readonly options: TransportOptions;

  constructor(options: TransportOptions = {}) {
    this.options = options;
  }

  /** Sends a request, following redirects, and resolves once the final response's headers arrive. */
  async send(url: URL, opts: SendOptions = {}): Promise<HttpResponse> {
    const authOrigin = url.origin;
    const maxRedirects = this.options.maxRedirects ?? 5;
    const seen = new Set<string>();
    let method = opts.method ?? "GET";
    let current = url;
    for (let hop = 0; ; hop++) {
      seen.add(current.href);
      const authorization = opts.authorization !== undefined && current.origin === authOrigin ? opts.authorization : undefined;
      const res = await this.once(current, method, opts, authorization);
      const location = res.headers.location;
      if (!REDIRECTS.has(res.status) || location === undefined) return res;
      res.body.resume();
      if (method === "POST") throw new WalkError("unavailable", `${url.host} redirected a POST to ${current.pathname}, which walk does not follow`);
      let next: URL;
      try {
        next = new URL(location, current);
      } catch {
        throw new WalkError("unavailable", `${current.host} redirected to an invalid location`);
      }
      // Credentials embedded in a Location are the peer's invention; never send them.
      next.username = "";
      next.password = "";
      if (seen.has(next.href)) throw new WalkError("unavailable", `redirect loop: ${redact(current)} redirected to ${redact(next)}, already visited, while fetching ${redact(url)}`);
      if (hop + 1 > maxRedirects) throw new WalkError("unavailable", `too many redirects (more than ${maxRedirects}) while fetching ${redact(url)}`);
      if (res.status === 303) method = "GET";
      current = next;
    }
  }

  /** Destroys every pooled connection. */
  async close(): Promise<void> {
    const agents = await Promise.allSettled(this.agents.values());
    for (const a of agents) if (a.status === "fulfilled") a.value.destroy();
    this.agents.clear();
  }

  private async once(url: URL, method: string, opts: SendOptions, authorization: string | undefined): Promise<HttpResponse> {
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new WalkError("unsupported", `cannot fetch ${redact(url)}: only https and http URLs are supported`);
    if (url.protocol === "http:" && !plainHttpAllowed(url.host, this.options)) {
      throw new WalkError("forbidden", `refusing plain HTTP to ${url.host}: it is not an insecure registry (use TLS, or add it to registry.insecure in the walkd config)`, { details: { host: url.host } });
    }
    if (opts.signal?.aborted) throw canceled(url);
    const agent = await this.agentFor(url);
    const headers: Record<string, string> = { "user-agent": this.options.userAgent ?? "walk.io", ...opts.headers };
    if (authorization !== undefined) headers.authorization = authorization;
    const isTls = url.protocol === "https:";
    const request = isTls ? https.request : http.request;
    const connectMs = this.options.connectTimeoutMs ?? 15_000;
    const idleMs = this.options.idleTimeoutMs ?? 30_000;

    return new Promise<HttpResponse>((resolve, reject) => {
      const req = request(url, { method, headers, agent });
      let res: IncomingMessage | undefined;
      const fail = (err: WalkError): void => {
        if (res) res.destroy(err);
        else req.destroy(err);
      };
      const connectTimer = setTimeout(() => fail(transientError("timeout", `timed out after ${connectMs} ms connecting to ${url.host}`)), connectMs);
      req.on("socket", (socket) => {
        if (!socket.connecting) clearTimeout(connectTimer);
        else socket.once(isTls ? "secureConnect" : "connect", () => clearTimeout(connectTimer));
      });
      req.setTimeout(idleMs, () => fail(transientError("timeout", `${url.host} sent nothing for ${idleMs} ms while answering ${redact(url)}`)));
      const onAbort = (): void => fail(canceled(url));
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      const cleanup = (): void => {
        clearTimeout(connectTimer);
        opts.signal?.removeEventListener("abort", onAbort);
      };
      req.on("error", (err) => {
        cleanup();
        reject(connectionError(url, err, (this.options.certsDirs ?? DEFAULT_CERTS_DIRS)[0]));
      });
      req.on("response", (incoming) => {
        clearTimeout(connectTimer);
        res = incoming;
        incoming.on("close", cleanup);
        incoming.on("error", () => {
          // Consumers see the error through their reads; this only keeps it from being unhandled.
        });
        resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, url, body: incoming });
      });
      req.end(opts.body);
    });
  }

  private agentFor(url: URL): Promise<http.Agent> {
    let agent = this.agents.get(url.origin);
    if (agent === undefined) {
      agent = this.makeAgent(url);
      this.agents.set(url.origin, agent);
      // A failed load (unreadable certs) must not be cached forever.
      agent.catch(() => this.agents.delete(url.origin));
    }
    return agent;
  }

  private async makeAgent(url: URL): Promise<http.Agent> {
    if (url.protocol === "http:") return new http.Agent({ keepAlive: true, maxSockets: 16 });
    const material: TlsMaterial = await loadTlsMaterial(url.host, this.options.certsDirs ?? DEFAULT_CERTS_DIRS);
    return new https.Agent({ keepAlive: true, maxSockets: 16, ca: material.ca, cert: material.cert, key: material.key });
  }
}

/** Reads a non-blob body into memory, failing with size_exceeded past `limit` bytes. */
export async function readBody(res: HttpResponse, limit: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) {
    res.body.destroy();
    throw new WalkError("size_exceeded", `${what} is ${declared} bytes, over the limit of ${limit} bytes`, { details: { limit } });
  }
  try {
    return await readBounded(res.body, limit, what);
  } finally {
    res.body.destroy();
  }
}

/** Reads at most `limit` bytes of a body for diagnostics, dropping the rest; never throws. */
export async function readDiagnosticBody(res: HttpResponse, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      chunks.push(chunk.subarray(0, limit - total));
      total += chunk.length;
      if (total >= limit) break;
    }
  } catch {
    // A broken error body is still an error reply; its status says enough.
  } finally {
    res.body.destroy();
  }
  return Buffer.concat(chunks);
}

/** A URL without query string or credentials, for messages (pre-signed URLs carry secrets). */
export function redact(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function canceled(url: URL): WalkError {
  return new WalkError("canceled", `request to ${redact(url)} was canceled`);
}

function connectionError(url: URL, err: unknown, certsDir: string | undefined): WalkError {
  if (err instanceof WalkError) return err;
  const e = err as NodeJS.ErrnoException;
  const message = `cannot reach ${url.host}: ${e.message}`;
  if (e.code !== undefined && TRANSIENT_ERRNOS.has(e.code)) return transientError("unavailable", message, err);
  if (isPlainHttpServerError(err)) {
    return new WalkError("unavailable", `${url.host} does not speak TLS (it answered in plain HTTP); plain HTTP is only used for insecure registries (registry.insecure in the walkd config)`, { cause: err });
  }
  if (/certificate|self.signed|unable to verify/i.test(e.message)) {
    return new WalkError("unavailable", `${message} (put the registry's CA in ${certsDir ?? "a certs directory"}/${url.host}/ca.crt)`, { cause: err });
  }
  return new WalkError("unavailable", message, { cause: err });
}
