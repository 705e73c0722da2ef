// A stand-in for the machine orchestrator in the app tests: each "machine" is a real HTTP server
// on its own loopback address (127.0.0.N, so generations never share an address), started by
// start() after a short "boot"; suspend() keeps the workload's counter for a restore. What it
// serves comes from its image reference:
//   img:<text>     answers every request with <text> (and counts: GET /count increments); GET /name
//                  answers the machine's name; GET /hold waits for release() (see `held`); GET
//                  /healthz answers 200 until GET /sicken (then 503, until the next start); its
//                  console says "<text> on <name>"
//   crash:<text>   prints <text> on its console and ends at once without listening
//   never          runs, but never listens
// startApps() wires them to a real AppService, SQLite store and activator. Used by tests only.
import { createServer, type Server } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { TestContext } from "node:test";
import { pino } from "pino";
import { Activator } from "../../src/activator/index.js";
import { fetchVia, unusedPort } from "../../src/activator/testing.js";
import { AppService } from "../../src/apps/service.js";
import { AppRepository } from "../../src/apps/store.js";
import { WalkError, type Logger } from "../../src/lib/index.js";
import { openDatabase } from "../../src/store/index.js";
import type { AppMachineRequest, AppMachineView, AppMachines } from "../../src/apps/machines.js";

interface FakeMachine {
  view: AppMachineView;
  req: AppMachineRequest;
  server: Server | undefined;
  console: string[];
  port: number;
  /** The workload's in-memory state: kept by suspend and restore, lost by stop and start. */
  count: number;
  snapshot: number | undefined;
  /** Whether GET /healthz answers 200; GET /sicken makes it answer 503 until the next start. */
  healthy: boolean;
}

export class FakeMachines implements AppMachines {
  readonly machines = new Map<string, FakeMachine>();
  creates = 0;
  starts = 0;
  stops = 0;
  suspends = 0;
  restores = 0;
  /** The next start fails (the machine ends up failed with this as its last error). */
  failNextStart: string | undefined;
  /** Requests to /hold waiting, with the machine that has them; release() answers `<text> <name>`. */
  readonly held: Array<{ machine: string; release(): void }> = [];
  private next = 2;

  constructor(
    /** The port each machine's workload listens on (the service's internal_port). */
    private readonly port: number,
    private readonly bootMs = 80,
  ) {}

  running(): FakeMachine[] {
    return [...this.machines.values()].filter((m) => m.view.state === "started");
  }

  async create(req: AppMachineRequest): Promise<AppMachineView> {
    this.creates++;
    const id = (this.next++).toString(16).padStart(32, "0");
    const m: FakeMachine = { view: { id, name: req.name, state: "created", net: { ip: `127.0.0.${this.next}` }, last_error: null }, req, server: undefined, console: [], port: this.port, count: 0, snapshot: undefined, healthy: true };
    this.machines.set(id, m);
    return req.start ? this.start(id) : { ...m.view };
  }

  async start(ref: string, opts: { restore?: boolean } = {}): Promise<AppMachineView> {
    const m = this.get(ref);
    if (m.view.state === "started") return { ...m.view };
    if (this.failNextStart !== undefined) {
      m.view = { ...m.view, state: "failed", last_error: this.failNextStart };
      this.failNextStart = undefined;
      return { ...m.view };
    }
    if (opts.restore === true) {
      if (m.snapshot === undefined) throw new WalkError("not_found", `machine ${m.view.name} has no snapshot`);
      this.restores++;
      m.count = m.snapshot;
    } else {
      this.starts++;
      m.count = 0;
    }
    m.snapshot = undefined;
    m.healthy = true;
    m.view.state = "started";
    await new Promise((r) => setTimeout(r, this.bootMs));
    const image = m.req.image;
    if (image.startsWith("crash:")) {
      m.console.push(image.slice("crash:".length));
      setTimeout(() => (m.view.state = "failed"), 20);
    } else if (image.startsWith("img:")) {
      const text = image.slice(4);
      m.console.push(`${text} on ${m.view.name}`);
      const s = createServer((req, res) => {
        if (req.url === "/hold") return void this.held.push({ machine: m.view.name, release: () => res.end(`${text} ${m.view.name}`) });
        if (req.url === "/name") return void res.end(m.view.name);
        if (req.url === "/sicken") m.healthy = false;
        if (req.url === "/healthz" && !m.healthy) return void res.writeHead(503).end("unhealthy");
        if (req.url === "/count") m.count++;
        res.end(`${text} ${m.count}`);
      });
      await new Promise<void>((r) => s.listen(m.port, m.view.net!.ip, r));
      m.server = s;
    }
    return { ...m.view };
  }

  async stop(ref: string): Promise<AppMachineView> {
    const m = this.get(ref);
    if (m.view.state === "started") this.stops++;
    await this.halt(m, "stopped");
    return { ...m.view };
  }

  async suspend(ref: string): Promise<AppMachineView> {
    const m = this.get(ref);
    if (m.view.state !== "started") throw new WalkError("conflict", `machine ${m.view.name} is ${m.view.state}`);
    this.suspends++;
    m.snapshot = m.count;
    await this.halt(m, "stopped");
    return { ...m.view };
  }

  async remove(ref: string): Promise<AppMachineView> {
    const m = this.get(ref);
    await this.halt(m, "destroyed");
    return { ...m.view };
  }

  inspect(ref: string): AppMachineView {
    return { ...this.get(ref).view };
  }

  async wait(ref: string, _state: "exited", timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
    const m = this.get(ref);
    const deadline = Date.now() + timeoutMs;
    while (m.view.state === "started" || m.view.state === "starting") {
      if (signal?.aborted) throw new WalkError("canceled", "the wait was canceled");
      if (Date.now() > deadline) throw new WalkError("timeout", "wait timed out");
      await new Promise((r) => setTimeout(r, 20));
    }
    return { ...m.view };
  }

  async *logs(ref: string): AsyncGenerator<Buffer> {
    const m = this.get(ref);
    for (const line of m.console) yield Buffer.from(line + "\n");
  }

  async closeAll(): Promise<void> {
    for (const m of this.machines.values()) await this.halt(m, m.view.state === "destroyed" ? "destroyed" : "stopped");
  }

  private async halt(m: FakeMachine, state: AppMachineView["state"]): Promise<void> {
    m.view.state = state;
    const s = m.server;
    m.server = undefined;
    if (s) await new Promise<void>((r) => {
      s.close(() => r());
      s.closeAllConnections();
    });
  }

  private get(ref: string): FakeMachine {
    const m = this.machines.get(ref);
    if (m === undefined) throw new WalkError("not_found", `no machine ${ref}`);
    return m;
  }
}

/** A logger whose JSON lines are kept in `lines`. */
export function captureLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString("utf8").split("\n")) if (l.length > 0) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: "info" }, sink), lines };
}

/**
 * An AppService over FakeMachines, attached to a real activator (cooldown 0), torn down after the
 * test. `toml(name, image, service keys, app keys)` writes a one-service walk.toml.
 */
export async function startApps(t: TestContext, opts: { stopTimeoutMs?: number } = {}) {
  const dir = await mkdtemp(join(tmpdir(), "walk-apps-"));
  const db = openDatabase(join(dir, "walk.db"));
  const port = await unusedPort();
  const machines = new FakeMachines(port);
  const { log, lines } = captureLogger();
  const running: Array<{ apps: AppService; activator: Activator }> = [];
  /** An AppService and its activator over the shared store and machines: one walkd's run. */
  const serve = async () => {
    const apps = new AppService({ repo: new AppRepository(db), machines, log, stopTimeoutMs: opts.stopTimeoutMs ?? 100 });
    const activator = await Activator.start({ logger: log, defaults: { cooldownMs: 0 } });
    running.push({ apps, activator });
    await apps.attach(activator);
    const get = (host: string, path = "/") => fetchVia(activator.address.port, host, { path });
    return { apps, activator, get };
  };
  t.after(async () => {
    for (const r of running) {
      r.apps.close();
      await r.activator.close();
    }
    await machines.closeAll();
    db.close();
    await rm(dir, { recursive: true, force: true });
  });
  const first = await serve();
  const toml = (name: string, image: string, extra = "", top = "") => `name = "${name}"\nimage = "${image}"\n${top}\n[[services]]\ninternal_port = ${port}\n${extra}\n`;
  /**
   * walkd restarts: the running AppService and activator close, `meanwhile` runs, then new ones
   * attach to the same store and machines.
   */
  const restart = async (meanwhile: () => Promise<void> = async () => undefined) => {
    const prev = running.pop()!;
    prev.apps.close();
    await prev.activator.close();
    await meanwhile();
    return serve();
  };
  return { ...first, machines, lines, toml, db, restart };
}
