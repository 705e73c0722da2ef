// Published ports as a userspace proxy in walkd: a TCP listener or UDP socket on the host address
// that relays to the guest. Chosen over DNAT because it serves loopback binds without
// route_localnet, works for connections the host makes to itself, and its bind IS the
// "port in use" check, made before boot. Bounded: connections and UDP sessions are capped and idle
// UDP sessions expire.
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, connect, isIPv6, type Server, type Socket } from "node:net";
import { WalkError } from "../lib/index.js";
import { formatPort, type PublishedPort } from "./ports.js";

export interface ProxyLimits {
  /** Concurrent TCP connections per published port. */
  maxConnections: number;
  /** Concurrent UDP client sessions per published port. */
  maxUdpSessions: number;
  /** A UDP session without traffic for this long is closed. */
  udpIdleMs: number;
  /** Time allowed to connect to the guest. */
  connectTimeoutMs: number;
}

export const DEFAULT_PROXY_LIMITS: ProxyLimits = { maxConnections: 1024, maxUdpSessions: 256, udpIdleMs: 60_000, connectTimeoutMs: 10_000 };

export interface Forwarder {
  readonly port: PublishedPort;
  close(): Promise<void>;
}

function bindError(port: PublishedPort, err: NodeJS.ErrnoException): WalkError {
  const what = formatPort(port);
  if (err.code === "EADDRINUSE") {
    return new WalkError("conflict", `host port ${port.hostIp}:${port.hostPort}/${port.protocol} is already in use (publishing ${what}); choose another host port or stop what uses it`, {
      cause: err,
      details: { port },
    });
  }
  if (err.code === "EADDRNOTAVAIL") {
    return new WalkError("invalid_argument", `cannot publish ${what}: ${port.hostIp} is not an address of this host`, { cause: err, details: { port } });
  }
  if (err.code === "EACCES") {
    return new WalkError("forbidden", `cannot bind host port ${port.hostPort} for ${what}: permission denied`, { cause: err, details: { port } });
  }
  return new WalkError("internal", `cannot publish ${what}: ${err.message}`, { cause: err, details: { port } });
}

async function openTcp(port: PublishedPort, guestIp: string, limits: ProxyLimits): Promise<Forwarder> {
  const conns = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = connect({ host: guestIp, port: port.guestPort, allowHalfOpen: true });
    conns.add(client);
    conns.add(upstream);
    const timer = setTimeout(() => upstream.destroy(), limits.connectTimeoutMs);
    upstream.once("connect", () => clearTimeout(timer));
    const done = (): void => {
      clearTimeout(timer);
      client.destroy();
      upstream.destroy();
      conns.delete(client);
      conns.delete(upstream);
    };
    client.on("error", done).on("close", done);
    upstream.on("error", done).on("close", done);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.maxConnections = limits.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => reject(bindError(port, e)));
    server.listen({ host: port.hostIp, port: port.hostPort, exclusive: true }, resolve);
  });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of conns) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function openUdp(port: PublishedPort, guestIp: string, limits: ProxyLimits): Promise<Forwarder> {
  const front: UdpSocket = createSocket({ type: isIPv6(port.hostIp) ? "udp6" : "udp4" });
  const sessions = new Map<string, { sock: UdpSocket; timer: NodeJS.Timeout }>();
  const endSession = (key: string): void => {
    const s = sessions.get(key);
    if (!s) return;
    clearTimeout(s.timer);
    s.sock.close();
    sessions.delete(key);
  };
  front.on("message", (msg, rinfo) => {
    const key = `${rinfo.address}|${rinfo.port}`;
    let s = sessions.get(key);
    if (!s) {
      if (sessions.size >= limits.maxUdpSessions) return; // full: drop, as a congested network would
      const sock = createSocket("udp4");
      sock.on("message", (reply) => {
        front.send(reply, rinfo.port, rinfo.address);
        const cur = sessions.get(key);
        if (cur) cur.timer.refresh();
      });
      sock.on("error", () => endSession(key));
      s = { sock, timer: setTimeout(() => endSession(key), limits.udpIdleMs) };
      sessions.set(key, s);
    }
    s.timer.refresh();
    s.sock.send(msg, port.guestPort, guestIp);
  });
  front.on("error", () => undefined); // per-datagram send errors (ICMP unreachable) must not kill the port
  await new Promise<void>((resolve, reject) => {
    front.once("error", (e: NodeJS.ErrnoException) => reject(bindError(port, e)));
    front.bind({ address: port.hostIp, port: port.hostPort, exclusive: true }, resolve);
  });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const k of [...sessions.keys()]) endSession(k);
        front.close(() => resolve());
      }),
  };
}

/** Binds the host side of a published port and relays to `guestIp`. Bind problems are clear WalkErrors. */
export function openForwarder(port: PublishedPort, guestIp: string, limits: ProxyLimits = DEFAULT_PROXY_LIMITS): Promise<Forwarder> {
  return port.protocol === "tcp" ? openTcp(port, guestIp, limits) : openUdp(port, guestIp, limits);
}

/**
 * Checks that every port can be bound right now, by binding and releasing each; throws the first
 * problem (e.g. `conflict` naming the port in use). For early errors, before anything is created.
 */
export async function checkPortsFree(ports: readonly PublishedPort[]): Promise<void> {
  for (const p of ports) {
    const f = await openForwarder(p, "127.0.0.1");
    await f.close();
  }
}
