// Test stand-ins for the activator: a backend whose "VM" is a real node HTTP server started on
// 127.0.0.1 after a delay (as a boot would), and a small HTTP client that returns whole
// responses. Used by tests and the benchmark only; never by walkd.
import { createServer, request, type IncomingHttpHeaders, type RequestListener, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { AppBackend, WakeKind, WakeResult } from "./types.js";

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface TestBackendOptions {
  handler: RequestListener;
  /** Delay before the server listens (the "boot"). Default 50. */
  wakeDelayMs?: number;
  /** Delay of the idle action. Default 0. */
  idleDelayMs?: number;
  /** wake() resolves with an address nobody listens on. */
  neverListen?: boolean;
  /** wake() rejects with this. */
  failWake?: Error;
  /** The server starts but its "VM" ends after this long (without listening). */
  endWithoutListening?: number;
  /** Handles protocol switches on the backend's server. */
  onUpgrade?: (req: import("node:http").IncomingMessage, socket: Socket, head: Buffer) => void;
  logs?: string[];
  /** Called for each TCP connection the backend's server accepts (pooling checks). */
  onConnection?: () => void;
}

/** An AppBackend over a real loopback HTTP server; counts wakes, idles and log reads. */
export class TestBackend implements AppBackend {
  wakes = 0;
  idles = 0;
  logReads = 0;
  /** Concurrent wake()/idle() calls seen at most (the activator promises 1). */
  maxOverlap = 0;
  private overlap = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private everIdled = false;
  private endRun: (() => void) | undefined;

  constructor(private readonly opts: TestBackendOptions) {}

  get running(): boolean {
    return this.server !== undefined;
  }

  async wake(_signal: AbortSignal): Promise<WakeResult> {
    this.enter();
    try {
      this.wakes++;
      await sleep(this.opts.wakeDelayMs ?? 50);
      if (this.opts.failWake) throw this.opts.failWake;
      // The first wake boots; later ones stand in for a restore from a snapshot.
      const kind: WakeKind = this.everIdled ? "resume" : "boot";
      if (this.opts.neverListen || this.opts.endWithoutListening !== undefined) {
        const port = await unusedPort();
        const ended = this.opts.endWithoutListening === undefined ? undefined : sleep(this.opts.endWithoutListening);
        return { host: "127.0.0.1", port, kind, ...(ended ? { ended } : {}) };
      }
      if (this.server === undefined) {
        const s = createServer(this.opts.handler);
        if (this.opts.onUpgrade) s.on("upgrade", this.opts.onUpgrade);
        s.on("connection", (c: Socket) => {
          this.sockets.add(c);
          c.once("close", () => this.sockets.delete(c));
          this.opts.onConnection?.();
        });
        await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
        this.server = s;
      }
      const ended = new Promise<void>((r) => (this.endRun = r));
      return { host: "127.0.0.1", port: (this.server.address() as AddressInfo).port, kind, ended };
    } finally {
      this.leave();
    }
  }

  async idle(): Promise<void> {
    this.enter();
    try {
      this.idles++;
      this.everIdled = true;
      await sleep(this.opts.idleDelayMs ?? 0);
      await this.stop();
    } finally {
      this.leave();
    }
  }

  async lastLogs(): Promise<string[]> {
    this.logReads++;
    return this.opts.logs ?? [];
  }

  /** The "VM" ends on its own: the server goes away and the wake's `ended` settles. */
  async crash(): Promise<void> {
    await this.stop();
    this.endRun?.();
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s === undefined) return;
    await new Promise<void>((r) => {
      s.close(() => r());
      // Upgraded sockets are no longer the server's: end them too, as a VM stopping would.
      for (const c of this.sockets) c.destroy();
    });
  }

  private enter(): void {
    this.overlap++;
    this.maxOverlap = Math.max(this.maxOverlap, this.overlap);
  }

  private leave(): void {
    this.overlap--;
  }
}

/** A loopback port that was free a moment ago (bound, then released). */
export async function unusedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface Fetched {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request on a fresh connection; resolves with the whole response. */
export function fetchVia(port: number, host: string | undefined, opts: { path?: string; method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (host !== undefined) headers.host = host;
    const req = request({ host: "127.0.0.1", port, path: opts.path ?? "/", method: opts.method ?? "GET", headers, agent: false, setHost: host === undefined }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** Polls `cond` every 10 ms until it holds; fails after `ms` with `what` (a liveness bound, not a timing assertion). */
export async function eventually(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await sleep(10);
  }
}
