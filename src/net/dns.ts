// A tiny DNS forwarder for guests: a UDP socket on a machine's gateway address that relays each
// query to the upstream resolvers and the matching answer back. walkd sends from the host, so the
// upstream may be the host's own stub (127.0.0.53) that guests could never reach. Bounded: query
// and answer sizes, queries in flight, and a short timeout per upstream. UDP only (no TCP fallback).
import { createSocket, type Socket } from "node:dgram";
import { readFile } from "node:fs/promises";
import { WalkError } from "../lib/index.js";
import { parseIpv4 } from "./cidr.js";
import { parseUpstream } from "./config.js";

export interface Upstream {
  host: string;
  port: number;
}

export interface DnsLimits {
  timeoutMs: number;
  maxInFlight: number;
}

export const DEFAULT_DNS_LIMITS: DnsLimits = { timeoutMs: 2000, maxInFlight: 128 };

const HEADER = 12;
/** EDNS payloads above this are not advertised by sane clients; anything larger is refused. */
const MAX_MESSAGE = 4096;

/** The query turned into a SERVFAIL answer: same id and question, QR and RA set, RCODE 2. */
function servfail(query: Buffer): Buffer {
  const r = Buffer.from(query);
  r[2] = (r[2]! | 0x80) & 0xf9; // QR=1, keep opcode and RD, clear AA and TC
  r[3] = 0x80 | 0x02; // RA=1, RCODE=SERVFAIL
  r.writeUInt16BE(0, 6); // ANCOUNT
  r.writeUInt16BE(0, 8); // NSCOUNT
  return r;
}

/** Sends one query to one upstream; resolves with the answer carrying the same id, or undefined on timeout. */
function ask(query: Buffer, up: Upstream, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const sock = createSocket("udp4");
    const finish = (v: Buffer | undefined): void => {
      clearTimeout(timer);
      sock.close();
      resolve(v);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    sock.on("error", () => finish(undefined));
    sock.on("message", (msg, rinfo) => {
      // Only the upstream we asked, only an answer to this query's id.
      if (rinfo.address !== up.host || rinfo.port !== up.port) return;
      if (msg.length < HEADER || msg.length > MAX_MESSAGE || msg.readUInt16BE(0) !== query.readUInt16BE(0) || (msg[2]! & 0x80) === 0) return;
      finish(msg);
    });
    sock.send(query, up.port, up.host);
  });
}

export class DnsForwarder {
  private inFlight = 0;

  private constructor(
    private readonly sock: Socket,
    private readonly upstreams: readonly Upstream[],
    private readonly limits: DnsLimits,
  ) {
    sock.on("message", (msg, rinfo) => void this.handle(msg, rinfo.address, rinfo.port));
    sock.on("error", () => undefined); // a failed reply to one client must not stop the forwarder
  }

  /** Binds `address:port` (a machine's gateway, port 53) and forwards to `upstreams`. */
  static async open(address: string, port: number, upstreams: readonly Upstream[], limits: DnsLimits = DEFAULT_DNS_LIMITS): Promise<DnsForwarder> {
    if (upstreams.length === 0) throw new WalkError("invalid_argument", "the DNS forwarder needs at least one upstream resolver (network.dns_upstreams)");
    const sock = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      sock.once("error", (e: NodeJS.ErrnoException) =>
        reject(new WalkError(e.code === "EADDRINUSE" ? "conflict" : "internal", `cannot start walk's DNS forwarder on ${address}:${port}: ${e.message}`, { cause: e })),
      );
      sock.bind({ address, port, exclusive: true }, resolve);
    });
    return new DnsForwarder(sock, upstreams, limits);
  }

  get address(): { address: string; port: number } {
    return this.sock.address();
  }

  private async handle(query: Buffer, host: string, port: number): Promise<void> {
    // Not a query (too short, too long, or a response): ignore, as a resolver would.
    if (query.length < HEADER || query.length > MAX_MESSAGE || (query[2]! & 0x80) !== 0) return;
    if (this.inFlight >= this.limits.maxInFlight) {
      this.sock.send(servfail(query), port, host);
      return;
    }
    this.inFlight++;
    try {
      let answer: Buffer | undefined;
      for (const up of this.upstreams) {
        answer = await ask(query, up, this.limits.timeoutMs);
        if (answer) break;
      }
      this.sock.send(answer ?? servfail(query), port, host);
    } finally {
      this.inFlight--;
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }
}

/** The IPv4 `nameserver` lines of a resolv.conf (at most 3), as upstreams on port 53. */
export function parseResolvConf(text: string): Upstream[] {
  const out: Upstream[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m && parseIpv4(m[1]!) !== undefined && out.length < 3) out.push({ host: m[1]!, port: 53 });
  }
  return out;
}

/** The configured upstreams, or the host's /etc/resolv.conf when none are configured. */
export async function resolveUpstreams(configured: readonly string[], resolvConf = "/etc/resolv.conf"): Promise<Upstream[]> {
  if (configured.length > 0) return configured.map((u) => parseUpstream(u));
  let text: string;
  try {
    text = await readFile(resolvConf, "utf8");
  } catch (err) {
    throw new WalkError("unavailable", `cannot read ${resolvConf} for the guests' DNS upstreams: ${(err as Error).message}; set network.dns_upstreams`, { cause: err });
  }
  const ups = parseResolvConf(text.slice(0, 64 * 1024));
  if (ups.length === 0) throw new WalkError("unavailable", `${resolvConf} names no IPv4 nameserver; set network.dns_upstreams`);
  return ups;
}
