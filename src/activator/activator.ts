// The activator: walkd's HTTP entry point for apps. Owns the listeners (the main one, routed by
// Host, and one per app host port) and their client connections, dispatches each request to its
// app's runtime, holds it while the app wakes (or shows the optional "starting" page), then hands
// it to an exchange. Owns no backend lifecycle policy beyond what AppRuntime does (instances,
// placement, scaling); knows nothing of machines.
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { WalkError, silentLogger, type Logger } from "../lib/index.js";
import { AppRuntime, Refusal, resolveLimits, type AppStatus, type Lease } from "./app-runtime.js";
import { ClientConnection, type ConnectionOptions } from "./client-connection.js";
import { proxyExchange, type ExchangeContext, type Outcome } from "./exchange.js";
import { hostFromHeader } from "./hostname.js";
import type { RequestHead } from "./http1/head.js";
import { AppMetrics, type ActivatorMetricsSnapshot, type RefusalCause } from "./metrics.js";
import { refusalPage, startingPage, type Page } from "./pages.js";
import { RouteTable } from "./routes.js";
import { timingLines } from "./timing.js";
import { DEFAULT_APP_LIMITS, DEFAULT_UPSTREAM_TIMEOUTS, type AppLimits, type AppRoute, type StartingPageOptions, type UpstreamTimeouts } from "./types.js";

export interface ActivatorOptions {
  /** The main listener (routed by Host). Default 127.0.0.1, port 0 (any free port). */
  listen?: { host?: string; port?: number };
  /** Address the per-app host port listeners bind. Default: listen.host. */
  hostPortAddress?: string;
  /** Limits for apps that do not set their own. */
  defaults?: Partial<AppLimits>;
  upstream?: Partial<UpstreamTimeouts>;
  /** The browser "starting" page; off unless given. */
  startingPage?: StartingPageOptions;
  /** Retry-After on walkd's own 503s. Default 5. */
  retryAfterSeconds?: number;
  /** Largest request header block accepted from clients, bytes (then 431). Default 16384. */
  maxHeaderSize?: number;
  /** Time a client has to send its request headers. Default 30000. */
  clientHeadersTimeoutMs?: number;
  /** An idle keep-alive client connection is closed after this long. Default 5000. */
  keepAliveTimeoutMs?: number;
  logger?: Logger;
}

interface App {
  route: AppRoute;
  runtime: AppRuntime;
  metrics: AppMetrics;
}

/** Thrown into acquire() when the caller stops waiting; never reaches a client. */
const CLIENT_GONE = new Error("client gone");
const SHOW_STARTING = new Error("starting page");

export class Activator {
  private table = RouteTable.build([]);
  private readonly apps = new Map<string, App>();
  private readonly portServers = new Map<number, Server>();
  /** Client connections, with the host port of the listener that accepted them (undefined: the main one). */
  private readonly connections = new Map<ClientConnection, number | undefined>();
  private readonly upgraded = new Set<Socket>();
  private readonly unrouted: Partial<Record<RefusalCause, number>> = {};
  private readonly logger: Logger;
  private readonly defaults: AppLimits;
  private readonly timeouts: UpstreamTimeouts;
  private readonly retryAfter: number;
  private readonly connectionOptions: ConnectionOptions;
  private routesUpdate: Promise<void> = Promise.resolve();

  private constructor(
    private readonly opts: ActivatorOptions,
    private readonly main: Server,
  ) {
    this.logger = opts.logger ?? silentLogger();
    this.defaults = { ...DEFAULT_APP_LIMITS, ...opts.defaults };
    this.timeouts = { ...DEFAULT_UPSTREAM_TIMEOUTS, ...opts.upstream };
    this.retryAfter = opts.retryAfterSeconds ?? 5;
    this.connectionOptions = { maxHeaderSize: opts.maxHeaderSize ?? 16_384, headersTimeoutMs: opts.clientHeadersTimeoutMs ?? 30_000, keepAliveTimeoutMs: opts.keepAliveTimeoutMs ?? 5_000 };
  }

  /** Starts the main listener and applies `routes`. Rejects (listening on nothing) when either fails. */
  static async start(opts: ActivatorOptions = {}, routes: readonly AppRoute[] = []): Promise<Activator> {
    const main = createServer({ noDelay: true });
    const a = new Activator(opts, main);
    a.attach(main, undefined);
    await listen(main, opts.listen?.host ?? "127.0.0.1", opts.listen?.port ?? 0);
    try {
      await a.setRoutes(routes);
    } catch (err) {
      await a.close();
      throw err;
    }
    return a;
  }

  /** The main listener's address. */
  get address(): { host: string; port: number } {
    const a = this.main.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  /**
   * Replaces the route table (a deploy). All or nothing: an invalid table, or a host port that
   * cannot be bound, leaves the previous table and listeners exactly as they were. Apps kept by
   * name keep their state (a ready backend stays ready) and take the new limits and backend.
   * Removed apps stop routing; their requests in flight finish. The activator never idles a
   * removed app's backend: that is the caller's job.
   */
  setRoutes(routes: readonly AppRoute[]): Promise<void> {
    const next = this.routesUpdate.then(() => this.applyRoutes(routes));
    this.routesUpdate = next.catch(() => undefined);
    return next;
  }

  /** Adds or replaces one app (see setRoutes). */
  upsertApp(route: AppRoute): Promise<void> {
    return this.setRoutes([...this.table.apps().filter((r) => r.name !== route.name), route]);
  }

  /** Removes one app (see setRoutes); a missing name is an error. */
  removeApp(name: string): Promise<void> {
    if (this.table.get(name) === undefined) return Promise.reject(new WalkError("not_found", `app ${name} is not in the activator's route table`, { details: { app: name } }));
    return this.setRoutes(this.table.apps().filter((r) => r.name !== name));
  }

  /** One app's lifecycle and load, per instance and in total, or undefined for an unknown app. */
  status(app: string): AppStatus | undefined {
    return this.apps.get(app)?.runtime.status();
  }

  /**
   * Instance `index` of `app` now answers elsewhere (its backend was moved, e.g. onto a new
   * machine): its current target takes no new requests and drains, and the instance wakes again
   * at once. See drained().
   */
  rewake(app: string, index: number): void {
    const a = this.apps.get(app);
    if (a === undefined) throw new WalkError("not_found", `app ${app} is not in the activator's route table`, { details: { app } });
    a.runtime.rewake(index);
  }

  /**
   * Resolves true once every target `app` retired (by rewake(), or instances that left its route)
   * has no request or open connection left, or false after `timeoutMs`. An unknown app has
   * nothing to drain.
   */
  drained(app: string, timeoutMs: number): Promise<boolean> {
    return this.apps.get(app)?.runtime.drained(timeoutMs) ?? Promise.resolve(true);
  }

  metrics(): ActivatorMetricsSnapshot {
    const apps: ActivatorMetricsSnapshot["apps"] = {};
    for (const [name, a] of this.apps) apps[name] = a.metrics.snapshot();
    return { unrouted: { ...this.unrouted }, apps };
  }

  /** The port an app host-port listener actually bound (equal to the configured one). */
  hostPorts(): number[] {
    return [...this.portServers.keys()];
  }

  /** Closes every listener and proxied connection. Backends are left as they are. */
  async close(): Promise<void> {
    await this.routesUpdate;
    for (const a of this.apps.values()) a.runtime.close();
    for (const s of this.upgraded) s.destroy();
    for (const c of this.connections.keys()) c.destroy();
    await Promise.all([this.main, ...this.portServers.values()].map(closeServer));
    this.portServers.clear();
  }

  private async applyRoutes(routes: readonly AppRoute[]): Promise<void> {
    const table = RouteTable.build(routes);
    const limits = new Map(table.apps().map((r) => [r.name, resolveLimits(r, this.defaults)]));
    const opened = new Map<number, Server>();
    try {
      for (const port of table.ports()) {
        if (this.portServers.has(port)) continue;
        const s = createServer({ noDelay: true });
        this.attach(s, port);
        await listen(s, this.opts.hostPortAddress ?? this.opts.listen?.host ?? "127.0.0.1", port);
        opened.set(port, s);
      }
    } catch (err) {
      await Promise.all([...opened.values()].map(closeServer));
      throw err;
    }
    for (const [port, s] of opened) this.portServers.set(port, s);
    const keepPorts = new Set(table.ports());
    for (const [port, s] of this.portServers) {
      if (keepPorts.has(port)) continue;
      this.portServers.delete(port);
      void closeServer(s);
      for (const [c, p] of this.connections) if (p === port) c.destroy();
    }
    for (const r of table.apps()) {
      const l = limits.get(r.name)!;
      const existing = this.apps.get(r.name);
      if (existing) {
        existing.route = r;
        existing.runtime.update(r, l);
      } else {
        const metrics = new AppMetrics();
        this.apps.set(r.name, { route: r, metrics, runtime: new AppRuntime(r, l, { logger: this.logger, metrics }) });
      }
    }
    for (const [name, a] of this.apps) {
      if (table.get(name) !== undefined) continue;
      a.runtime.close();
      this.apps.delete(name);
    }
    this.table = table;
  }

  private attach(server: Server, port: number | undefined): void {
    server.on("connection", (socket: Socket) => {
      const conn = new ClientConnection(
        socket,
        this.connectionOptions,
        (c, req) => this.onRequest(c, req, port),
        () => (this.unrouted.bad_request = (this.unrouted.bad_request ?? 0) + 1),
      );
      this.connections.set(conn, port);
      socket.once("close", () => this.connections.delete(conn));
    });
  }

  /** The app a request is for, or the cause to refuse it with. */
  private route(req: RequestHead, port: number | undefined): App | "unknown_host" | "bad_host" {
    if (port !== undefined) {
      const r = this.table.byHostPort(port);
      return r ? this.apps.get(r.name)! : "unknown_host";
    }
    const host = hostFromHeader(req.authority ?? req.host);
    if (host === undefined) return "bad_host";
    const r = this.table.byHostname(host);
    return r ? this.apps.get(r.name)! : "unknown_host";
  }

  private exchangeContext(app: App, lease: Lease, heldMs: number): ExchangeContext {
    return {
      app: app.route.name,
      timeouts: this.timeouts,
      retryAfterSeconds: this.retryAfter,
      timing: (st) => timingLines(lease.wake, heldMs, st),
      done: (o: Outcome) => {
        if (o === "upstream_error" || o === "upstream_timeout") app.metrics.refused(o);
      },
      track: (sockets) => {
        for (const s of sockets) {
          this.upgraded.add(s);
          s.once("close", () => this.upgraded.delete(s));
        }
      },
      badUpstream: (message) => this.logger.warn({ app: app.route.name, err: message }, "activator: refused the app's response"),
    };
  }

  /** Waits for a lease; on refusal returns the page to answer with, or undefined when the client left. */
  private async hold(app: App, signal: AbortSignal): Promise<{ lease: Lease; heldMs: number } | { page: Page | undefined; heldMs: number }> {
    const t0 = performance.now();
    app.metrics.requests++;
    try {
      const lease = await app.runtime.acquire(signal);
      const heldMs = performance.now() - t0;
      app.metrics.held(heldMs);
      return { lease, heldMs };
    } catch (err) {
      const heldMs = performance.now() - t0;
      if (err === SHOW_STARTING) {
        app.metrics.refused("starting_page");
        return { page: startingPage(app.route.name, this.opts.startingPage!.refreshSeconds), heldMs };
      }
      if (err instanceof Refusal) {
        app.metrics.refused(err.refusal);
        return { page: refusalPage(err.refusal as Exclude<RefusalCause, "starting_page" | "bad_request">, app.route.name, this.retryAfter), heldMs };
      }
      if (err === CLIENT_GONE) return { page: undefined, heldMs };
      throw err;
    }
  }

  private onRequest(conn: ClientConnection, req: RequestHead, port: number | undefined): void {
    const app = this.route(req, port);
    if (typeof app === "string") {
      this.unrouted[app] = (this.unrouted[app] ?? 0) + 1;
      return conn.reply(refusalPage(app, undefined, this.retryAfter), "", req, req.upgrade !== undefined);
    }
    const warm = app.runtime.tryAcquire();
    if (warm !== undefined) {
      app.metrics.requests++;
      app.metrics.held(0);
      return proxyExchange(conn, req, warm, this.exchangeContext(app, warm, 0));
    }
    void this.holdThenForward(conn, req, app);
  }

  /** The cold (or queued) path: hold the request for a lease, answering the client itself if refused. */
  private async holdThenForward(conn: ClientConnection, req: RequestHead, app: App): Promise<void> {
    const ac = new AbortController();
    conn.events = { clientGone: () => ac.abort(CLIENT_GONE), clientDrained: () => undefined };
    const sp = this.opts.startingPage;
    const starting = sp !== undefined && wantsHtml(req) ? setTimeout(() => ac.abort(SHOW_STARTING), sp.afterMs) : undefined;
    const held = await this.hold(app, ac.signal).finally(() => {
      clearTimeout(starting);
      conn.events = undefined;
    });
    if ("page" in held) {
      if (held.page !== undefined && !conn.closed) conn.reply(held.page, timingLines("none", held.heldMs), req, req.upgrade !== undefined);
      return;
    }
    if (conn.closed) return held.lease.release();
    proxyExchange(conn, req, held.lease, this.exchangeContext(app, held.lease, held.heldMs));
  }
}

/** A browser navigation that may get the "starting" page (never an API client or an upgrade). */
function wantsHtml(req: RequestHead): boolean {
  if (req.upgrade !== undefined || (req.method !== "GET" && req.method !== "HEAD")) return false;
  for (let i = 0; i < req.headers.length; i += 2) {
    if (req.headers[i]!.toLowerCase() === "accept" && req.headers[i + 1]!.toLowerCase().includes("text/html")) return true;
  }
  return false;
}

function listen(s: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const what = `${host}:${port}`;
      reject(
        err.code === "EADDRINUSE"
          ? new WalkError("conflict", `activator: ${what} is already in use; choose another listen address or host port`, { cause: err, details: { address: what } })
          : new WalkError("unavailable", `activator: cannot listen on ${what}: ${err.message}`, { cause: err, details: { address: what } }),
      );
    };
    s.once("error", onError);
    s.listen(port, host, () => {
      s.off("error", onError);
      resolve();
    });
  });
}

function closeServer(s: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!s.listening) return resolve();
    s.close(() => resolve());
  });
}
