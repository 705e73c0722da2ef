// Test harness: network namespaces the test creates (unique names, always deleted), veth links
// between them, the stand-in internet the network tests share, small probes (TCP/UDP/DNS/HTTP
// servers and clients, a chunked upload, a protocol upgrade client) run inside a namespace, and an
// agent that runs a NetworkManager inside a namespace standing in for the host (its proxies and
// DNS forwarder need sockets there). The agent and the upgrade client are sessions: the test
// drives them op by op over JSON lines. Traffic never leaves namespaces the test made.
//
// Run as a script (`node dist/test/harness/netns.js PROBE ...`) it is the probe itself.
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { writeFile } from "node:fs/promises";
import { createServer as createHttpServer, request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http";
import { createServer, connect, type Socket } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { execFile, execChecked, WalkError, type ExecResult } from "../../src/lib/index.js";

const SELF = fileURLToPath(import.meta.url);

export class Netns {
  private readonly children = new Set<ChildProcess>();
  private constructor(readonly name: string) {}

  /** A new namespace named `wt<label><random>` with loopback up. */
  static async create(label: string): Promise<Netns> {
    const ns = new Netns(`wt${label}${randomBytes(3).toString("hex")}`);
    await execChecked("ip", ["netns", "add", ns.name]);
    await ns.check("ip", ["link", "set", "lo", "up"]);
    return ns;
  }

  exec(cmd: string, args: readonly string[], input?: string): Promise<ExecResult> {
    return execFile("ip", ["netns", "exec", this.name, cmd, ...args], { timeoutMs: 20_000, ...(input === undefined ? {} : { input }) });
  }

  async check(cmd: string, args: readonly string[], input?: string): Promise<string> {
    const r = await this.exec(cmd, args, input);
    if (r.code !== 0) throw new Error(`in ${this.name}: ${cmd} ${args.join(" ")} failed: ${r.stderr}`);
    return r.stdout;
  }

  /** Spawns a probe of this file inside the namespace, stdin and stdout piped; destroy() kills it if it still runs. */
  spawnProbe(args: readonly string[]): ChildProcess {
    const child = spawn("ip", ["netns", "exec", this.name, process.execPath, SELF, ...args], { stdio: ["pipe", "pipe", "inherit"] });
    this.children.add(child);
    child.on("exit", () => this.children.delete(child));
    return child;
  }

  /** Runs a probe of this file inside the namespace until it prints its first line (`ready` for servers). */
  async startProbe(args: readonly string[]): Promise<ChildProcess> {
    const child = this.spawnProbe(args);
    const first = await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout! });
      rl.once("line", (l) => {
        rl.close();
        resolve(l);
      });
      child.once("exit", (code) => reject(new Error(`probe ${args.join(" ")} in ${this.name} exited with ${code}`)));
    });
    if (first !== "ready") throw new Error(`probe ${args.join(" ")} said ${first}`);
    return child;
  }

  /** Runs a client probe to completion and returns its one JSON result. */
  async probe<T = ProbeResult>(args: readonly string[], timeoutMs = 20_000): Promise<T> {
    const r = await execFile("ip", ["netns", "exec", this.name, process.execPath, SELF, ...args], { timeoutMs });
    if (r.code !== 0) throw new Error(`probe ${args.join(" ")} in ${this.name} failed (${r.signal ?? `exit ${r.code}`}): ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /**
   * Kills its probes and every other process still inside (a VMM a walkd left running would keep
   * the namespace alive after `ip netns del`), then deletes the namespace and every link in it.
   * Safe to call twice.
   */
  async destroy(): Promise<void> {
    for (const c of this.children) c.kill("SIGKILL");
    for (let i = 0; i < 100; i++) {
      const pids = (await execFile("ip", ["netns", "pids", this.name])).stdout.split("\n").filter((p) => /^\d+$/.test(p));
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // Gone meanwhile.
        }
      }
      await sleep(50);
    }
    await execFile("ip", ["netns", "del", this.name]);
  }
}

/**
 * A directory holding a `qemu-system-x86_64` that runs the real one inside `ns`: put it first on
 * PATH and the QEMU harness boots its guests in that namespace, where their taps are.
 */
export async function qemuInNetnsDir(ns: Netns, dir: string): Promise<string> {
  const real = (await execChecked("sh", ["-c", "command -v qemu-system-x86_64"])).stdout.trim();
  await writeFile(join(dir, "qemu-system-x86_64"), `#!/bin/sh\nexec ip netns exec ${ns.name} ${real} "$@"\n`, { mode: 0o755 });
  return dir;
}

/** Creates namespaces and always deletes them, even when `fn` throws. */
export async function withNamespaces<T>(labels: readonly string[], fn: (ns: Netns[]) => Promise<T>): Promise<T> {
  const made: Netns[] = [];
  try {
    for (const l of labels) made.push(await Netns.create(l));
    return await fn(made);
  } finally {
    for (const n of made) await n.destroy();
  }
}

/** A veth pair: `aDev` in `a` with `aAddr` (CIDR), `bDev` in `b` with `bAddr`, both up. */
export async function link(a: Netns, aDev: string, aAddr: string | undefined, b: Netns, bDev: string, bAddr: string | undefined): Promise<void> {
  await a.check("ip", ["link", "add", aDev, "type", "veth", "peer", "name", bDev, "netns", b.name]);
  for (const [ns, dev, addr] of [
    [a, aDev, aAddr],
    [b, bDev, bAddr],
  ] as const) {
    if (addr !== undefined) await ns.check("ip", ["addr", "add", addr, "dev", dev]);
    await ns.check("ip", ["link", "set", dev, "up"]);
  }
}

/**
 * Makes `outside` the internet of `host`: `uplink0` in host (203.0.113.2/24) is linked to `eth0` in
 * outside (203.0.113.1/24), which also holds the metadata address 169.254.169.254 (host routes it
 * there). Outside serves TCP on 203.0.113.1:80 and 169.254.169.254:80 and DNS on 203.0.113.1:53
 * (svc.walk.test is 198.51.100.7); host serves TCP on 203.0.113.2:9000, a host service guests must
 * not reach.
 */
export async function linkOutsideWorld(host: Netns, outside: Netns): Promise<void> {
  await link(host, "uplink0", "203.0.113.2/24", outside, "eth0", "203.0.113.1/24");
  await outside.check("ip", ["addr", "add", "169.254.169.254/32", "dev", "eth0"]);
  await host.check("ip", ["route", "add", "169.254.169.254/32", "via", "203.0.113.1"]);
  await outside.startProbe(["tcp-server", "203.0.113.1", "80"]);
  await outside.startProbe(["tcp-server", "169.254.169.254", "80"]);
  await outside.startProbe(["dns-server", "203.0.113.1", "53", "svc.walk.test", "198.51.100.7"]);
  await host.startProbe(["tcp-server", "203.0.113.2", "9000"]);
}

/** What walk-init does with the walk.* network parameters, applied to `eth0` of a stand-in guest. */
export async function configureGuest(guest: Netns, p: { ip: { address: string; prefix: number }; gateway: string; mtu: number }): Promise<void> {
  await guest.check("ip", ["link", "set", "eth0", "mtu", String(p.mtu), "up"]);
  await guest.check("ip", ["addr", "add", `${p.ip.address}/${p.ip.prefix}`, "dev", "eth0"]);
  await guest.check("ip", ["route", "add", "default", "via", p.gateway, "dev", "eth0"]);
}

export type ProbeResult = { ok: true; data: string } | { ok: false; code: string };

/** One response of the HTTP probes; status 0 and the error in `body` when the request failed. */
export interface HttpGot {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** From sending the request to its response's headers (time to first byte). */
  ttfbMs: number;
  /** Each piece of the body as it arrived: wall-clock time (Date.now(), comparable across processes) and the body's length so far. */
  arrivals: Array<{ atMs: number; bytes: number }>;
}

/** What the `http-upload` probe sent, beside the response. */
export interface HttpUploaded extends HttpGot {
  sent: { bytes: number; sha256: string };
}

/** What the `upgrade-client` probe's `open` got: the 101 (or another answer, with its body), and the key it sent. */
export interface UpgradeAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  key: string;
  body?: string;
}

// ---- probes (this file run as a script inside a namespace) ----

function tcpServer(host: string, port: number): void {
  createServer((s) => s.end(`hello from ${host}:${port} to ${s.remoteAddress ?? "?"}\n`)).listen(port, host, () => console.log("ready"));
}

function tcpGet(host: string, port: number, localAddress?: string, timeoutMs = 5000): void {
  const c = connect({ host, port, timeout: timeoutMs, ...(localAddress ? { localAddress } : {}) });
  let data = "";
  const done = (r: ProbeResult): void => {
    console.log(JSON.stringify(r));
    process.exit(0);
  };
  c.on("data", (d: Buffer) => (data += d.toString()));
  c.on("end", () => done({ ok: true, data }));
  c.on("timeout", () => done({ ok: false, code: "TIMEOUT" }));
  c.on("error", (e: NodeJS.ErrnoException) => done({ ok: false, code: e.code ?? e.message }));
}

function httpServer(host: string, port: number): void {
  createHttpServer((_req, res) => res.end("ok\n")).listen(port, host, () => console.log("ready"));
}

/** Accepts connections and discards what they send (the far end of a throughput test). */
function sinkServer(host: string, port: number): void {
  createServer((s) => s.resume().on("end", () => s.end())).listen(port, host, () => console.log("ready"));
}

/** Sends `mib` MiB as fast as the path allows; prints {ok, data: JSON {bytes, ms}}. */
function bulkSend(host: string, port: number, mib: number): void {
  const chunk = Buffer.alloc(256 * 1024, 0x61);
  let left = mib * 4;
  const c = connect({ host, port });
  const t0 = process.hrtime.bigint();
  const pump = (): void => {
    while (left > 0) {
      left--;
      if (!c.write(chunk)) return void c.once("drain", pump);
    }
    c.end();
  };
  c.on("connect", pump);
  c.on("data", () => undefined);
  c.on("end", () => {
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(JSON.stringify({ ok: true, data: JSON.stringify({ bytes: mib * 1024 * 1024, ms }) }));
    process.exit(0);
  });
  c.on("error", (e: NodeJS.ErrnoException) => {
    console.log(JSON.stringify({ ok: false, code: e.code ?? e.message }));
    process.exit(0);
  });
}

/**
 * One request to 127.0.0.1:`port` with Host `host`, on a connection of its own; `send` writes the
 * body (none by default) before the request ends. Settles once the response ended and `send`
 * returned; a failure comes back as status 0.
 */
async function httpExchange(port: number, host: string, path: string, opts: { method?: string; headers?: OutgoingHttpHeaders; send?: (req: ClientRequest) => Promise<void> } = {}): Promise<HttpGot> {
  const t0 = performance.now();
  const arrivals: HttpGot["arrivals"] = [];
  let req!: ClientRequest;
  const got = new Promise<HttpGot>((resolve) => {
    req = httpRequest({ host: "127.0.0.1", port, path, method: opts.method ?? "GET", headers: { host, ...opts.headers }, agent: false }, (res) => {
      const ttfbMs = performance.now() - t0;
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => {
        parts.push(d);
        arrivals.push({ atMs: Date.now(), bytes: (arrivals.at(-1)?.bytes ?? 0) + d.length });
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString("utf8"), ttfbMs, arrivals }));
    });
    req.on("error", (e) => resolve({ status: 0, headers: {}, body: String(e), ttfbMs: performance.now() - t0, arrivals }));
  });
  await opts.send?.(req);
  req.end();
  return got;
}

/** `n` concurrent GETs of `path` from 127.0.0.1:`port` with Host `host`, each on its own connection; prints HttpGot[]. */
async function httpGet(port: number, host: string, path: string, n: number): Promise<void> {
  console.log(JSON.stringify(await Promise.all(Array.from({ length: n }, () => httpExchange(port, host, path)))));
}

/** POSTs a chunked body: one chunk of random bytes per entry of `sizes`, `gapMs` apart; prints HttpUploaded. */
async function httpUpload(port: number, host: string, path: string, sizes: number[], gapMs: number): Promise<void> {
  const hash = createHash("sha256");
  let bytes = 0;
  const send = async (req: ClientRequest): Promise<void> => {
    for (const [i, size] of sizes.entries()) {
      if (i > 0) await sleep(gapMs);
      const chunk = randomBytes(size);
      hash.update(chunk);
      bytes += size;
      req.write(chunk);
    }
  };
  const got = await httpExchange(port, host, path, { method: "POST", headers: { "transfer-encoding": "chunked" }, send });
  console.log(JSON.stringify({ ...got, sent: { bytes, sha256: hash.digest("hex") } } satisfies HttpUploaded));
}

/** Bound of each op of the upgrade client. */
const UPGRADE_OP_MS = 30_000;

/**
 * A client of a protocol upgrade, driven as a ProbeSession. `open`: a websocket handshake (GET
 * `path`, Connection: Upgrade, Upgrade: websocket, a random Sec-WebSocket-Key) to
 * 127.0.0.1:`port` with Host `host`, answering UpgradeAnswer. After a 101 the connection is a byte
 * stream: `echo(size)` sends `size` random bytes and waits for as many back ({bytes, identical});
 * `close` ends the connection and waits until it is closed. Every op is bounded.
 */
async function upgradeClient(port: number, host: string, path: string): Promise<void> {
  let socket: Socket | undefined;
  let received = Buffer.alloc(0);
  let closed = false;
  let changed = (): void => undefined;
  /** Resolves once `cond` holds; checked again whenever bytes arrive or the connection closes. */
  const until = (what: string, cond: () => boolean): Promise<void> =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), UPGRADE_OP_MS);
      changed = () => {
        if (!cond()) return;
        clearTimeout(t);
        changed = () => undefined;
        resolve();
      };
      changed();
    });
  const open = (): Promise<UpgradeAnswer> =>
    new Promise((resolve, reject) => {
      const key = randomBytes(16).toString("base64");
      const headers = { host, connection: "Upgrade", upgrade: "websocket", "sec-websocket-key": key, "sec-websocket-version": "13" };
      const req = httpRequest({ host: "127.0.0.1", port, path, headers, agent: false, timeout: UPGRADE_OP_MS });
      req.on("upgrade", (res, s, head) => {
        socket = s;
        received = head;
        s.on("data", (d: Buffer) => {
          received = Buffer.concat([received, d]);
          changed();
        });
        s.on("close", () => {
          closed = true;
          changed();
        });
        s.on("error", () => undefined);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, key });
      });
      req.on("response", (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, key, body }));
      });
      req.on("timeout", () => req.destroy(new Error("no answer to the upgrade request")));
      req.on("error", reject);
      req.end();
    });
  const echo = async (size: number): Promise<{ bytes: number; identical: boolean }> => {
    if (socket === undefined) throw new Error("no upgraded connection");
    const sent = randomBytes(size);
    socket.write(sent);
    await until(`${size} bytes back`, () => closed || received.length >= size);
    if (received.length < size) throw new Error(`the connection closed after ${received.length} of ${size} bytes came back`);
    const back = received.subarray(0, size);
    received = received.subarray(size);
    return { bytes: size, identical: back.equals(sent) };
  };
  const close = async (): Promise<void> => {
    socket?.end();
    await until("the connection to close", () => closed || socket === undefined);
  };
  await serveOps({ open, echo, close });
  socket?.destroy();
}

function udpEcho(host: string, port: number): void {
  const s = createSocket("udp4");
  s.on("message", (m, r) => s.send(Buffer.from(`echo ${m.toString()}`), r.port, r.address));
  s.bind(port, host, () => console.log("ready"));
}

function udpAsk(host: string, port: number, msg: string): void {
  const s = createSocket("udp4");
  const t = setTimeout(() => {
    console.log(JSON.stringify({ ok: false, code: "TIMEOUT" }));
    process.exit(0);
  }, 5000);
  s.on("message", (m) => {
    clearTimeout(t);
    console.log(JSON.stringify({ ok: true, data: m.toString() }));
    process.exit(0);
  });
  s.on("error", (e: NodeJS.ErrnoException) => {
    console.log(JSON.stringify({ ok: false, code: e.code ?? e.message }));
    process.exit(0);
  });
  s.send(msg, port, host);
}

async function dnsServer(host: string, port: number, name: string, address: string): Promise<void> {
  const { dnsAnswer, dnsQuestionName } = await import("../../src/net/testing.js");
  const s = createSocket("udp4");
  s.on("message", (q, r) => s.send(dnsAnswer(q, dnsQuestionName(q) === name ? address : undefined), r.port, r.address));
  s.bind(port, host, () => console.log("ready"));
}

async function dnsAsk(server: string, name: string): Promise<void> {
  const { dnsParseAnswer, dnsQuery } = await import("../../src/net/testing.js");
  const s = createSocket("udp4");
  const t = setTimeout(() => {
    console.log(JSON.stringify({ error: "TIMEOUT" }));
    process.exit(0);
  }, 5000);
  s.on("message", (m) => {
    clearTimeout(t);
    console.log(JSON.stringify(dnsParseAnswer(m)));
    process.exit(0);
  });
  s.on("error", (e: NodeJS.ErrnoException) => {
    console.log(JSON.stringify({ error: e.code ?? e.message }));
    process.exit(0);
  });
  s.send(dnsQuery(0x4242, name), 53, server);
}

/** A NetworkManager over `dbPath` with `config`, driven by JSON lines on stdin: {op, args} -> {ok, value|code,message}. */
async function agent(dbPath: string, configJson: string, links: string): Promise<void> {
  const { openDatabase } = await import("../../src/store/index.js");
  const { NetworkManager } = await import("../../src/net/index.js");
  const db = openDatabase(dbPath);
  const guestNs = new Map<string, string>();
  const linkKind = links === "tap" ? undefined : vethStandIn((id) => guestNs.get(id));
  const nm = new NetworkManager({ db, config: JSON.parse(configJson) as never, ...(linkKind ? { linkKind } : {}) });
  const ops: Record<string, (...a: never[]) => unknown> = {
    guestNs: (id: string, ns: string) => void guestNs.set(id, ns),
    allocate: (id: string, ports: string[]) => nm.allocate(id, { ports }),
    networkSpec: (id: string) => nm.networkSpec(id),
    guestParams: (id: string) => nm.guestParams(id),
    checkPorts: (id: string) => nm.checkPorts(id),
    setUp: (id: string) => nm.setUp(id),
    tearDown: (id: string) => nm.tearDown(id),
    release: (id: string) => nm.release(id),
    reconcile: async (live: { id: string; running: boolean }[]) => {
      const r = await nm.reconcile(live);
      return { ...r, failed: r.failed.map((f) => ({ machineId: f.machineId, code: f.error.code, message: f.error.message })) };
    },
    close: () => nm.close(),
  };
  await serveOps(ops);
  db.close();
}

/** Probe side of a ProbeSession: says `ready`, then answers each `{op, args}` line until stdin ends. */
async function serveOps(ops: Record<string, (...a: never[]) => unknown>): Promise<void> {
  console.log("ready");
  for await (const line of createInterface({ input: process.stdin })) {
    const { op, args } = JSON.parse(line) as { op: string; args: never[] };
    try {
      const fn = ops[op];
      if (fn === undefined) throw new WalkError("invalid_argument", `no op ${op}`);
      const value = await fn(...args);
      console.log(JSON.stringify({ ok: true, value: value ?? null }));
    } catch (err) {
      const e = err as WalkError;
      console.log(JSON.stringify({ ok: false, code: e.code ?? "internal", message: e.message }));
    }
  }
}

/**
 * Stands a veth in for a tap: the host end gets the tap's name (so walk's rules match it exactly),
 * the peer becomes `eth0` of the machine's stand-in guest namespace.
 */
export function vethStandIn(guestNsOf: (machineId: string) => string | undefined) {
  return {
    name: "veth stand-in for a tap",
    matches: (l: { kind: string | undefined }) => l.kind === "veth",
    async add(host: { check(what: string, cmd: string, args: readonly string[]): Promise<string> }, name: string, machineId: string) {
      const g = guestNsOf(machineId);
      if (g === undefined) throw new WalkError("internal", `the test gave machine ${machineId} no guest namespace`);
      await host.check(`creating ${name}`, "ip", ["link", "add", name, "type", "veth", "peer", "name", "eth0", "netns", g]);
    },
  };
}

/**
 * Client side of a probe driven by JSON lines (the net agent, the upgrade client): each call
 * writes `{op, args}` to its stdin and reads one answer line; one call at a time, answers in order.
 */
export class ProbeSession {
  private readonly lines: AsyncIterator<string>;
  constructor(readonly child: ChildProcess) {
    this.lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  }

  /** Starts probe `args` inside `ns` (its destroy() kills it) and resolves once it says `ready`. */
  static async open<T extends ProbeSession>(this: new (child: ChildProcess) => T, ns: Netns, args: readonly string[]): Promise<T> {
    const s = new this(ns.spawnProbe(args));
    const first = await s.lines.next();
    if (first.value !== "ready") throw new Error(`probe ${args[0]} did not start: ${String(first.value)}`);
    return s;
  }

  /** Calls an op; resolves with its value, rejects with an Error carrying the probe's error code. */
  async call<T = unknown>(op: string, ...args: unknown[]): Promise<T> {
    this.child.stdin!.write(`${JSON.stringify({ op, args })}\n`);
    const next = await this.lines.next();
    if (next.done) throw new Error(`the probe exited during ${op}`);
    const r = JSON.parse(next.value) as { ok: true; value: T } | { ok: false; code: string; message: string };
    if (r.ok) return r.value;
    throw Object.assign(new Error(r.message), { code: r.code });
  }

  /** Ends the probe: closing its stdin ends it normally, `kill` like a crash. */
  async stop(kill = false): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    if (kill) this.child.kill("SIGKILL");
    else this.child.stdin!.end();
    await exited;
  }
}

/** A NetworkManager in a namespace standing in for the host; stop() is a walkd exit, stop(true) a crash (links and the table stay). */
export class NetAgent extends ProbeSession {
  /** `links`: "veth" stands a veth in for each tap (guests are namespaces); "tap" makes real taps (guests are VMs). */
  static start(host: Netns, dbPath: string, config: unknown, links: "veth" | "tap" = "veth"): Promise<NetAgent> {
    return NetAgent.open(host, ["agent", dbPath, JSON.stringify(config), links]);
  }
}

if (process.argv[1] === SELF) {
  const [cmd, ...a] = process.argv.slice(2);
  const n = (s: string | undefined): number => Number(s);
  if (cmd === "tcp-server") tcpServer(a[0]!, n(a[1]));
  else if (cmd === "tcp-get") tcpGet(a[0]!, n(a[1]), a[2] || undefined, a[3] === undefined ? undefined : n(a[3]));
  else if (cmd === "udp-echo") udpEcho(a[0]!, n(a[1]));
  else if (cmd === "http-server") httpServer(a[0]!, n(a[1]));
  else if (cmd === "http-get") void httpGet(n(a[0]), a[1]!, a[2]!, n(a[3]));
  else if (cmd === "http-upload") void httpUpload(n(a[0]), a[1]!, a[2]!, a[3]!.split(",").map(Number), n(a[4]));
  else if (cmd === "upgrade-client") void upgradeClient(n(a[0]), a[1]!, a[2]!);
  else if (cmd === "sink-server") sinkServer(a[0]!, n(a[1]));
  else if (cmd === "bulk-send") bulkSend(a[0]!, n(a[1]), n(a[2]));
  else if (cmd === "udp-ask") udpAsk(a[0]!, n(a[1]), a[2]!);
  else if (cmd === "dns-server") void dnsServer(a[0]!, n(a[1]), a[2]!, a[3]!);
  else if (cmd === "dns-ask") void dnsAsk(a[0]!, a[1]!);
  else if (cmd === "agent") void agent(a[0]!, a[1]!, a[2]!);
  else {
    console.error(`unknown probe ${cmd}`);
    process.exit(2);
  }
}
