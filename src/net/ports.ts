// Published-port specs: `-p [HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp]` parsed and validated (range,
// protocol, address family, privileged ports, duplicates). Pure; binding happens in proxy.ts.
import { isIP } from "node:net";
import { WalkError } from "../lib/index.js";

export type PortProtocol = "tcp" | "udp";

export interface PublishedPort {
  /** Host address the port is bound on: IPv4, or IPv6 without brackets. */
  hostIp: string;
  hostPort: number;
  guestPort: number;
  protocol: PortProtocol;
}

export interface PortPolicy {
  /** Used when the spec names no host address (the operator's choice; loopback by default). */
  defaultAddress: string;
  allowPrivileged: boolean;
}

const PORT_RE = /^[1-9]\d{0,4}$/;

function bad(spec: string, why: string): never {
  throw new WalkError("invalid_argument", `invalid port spec ${JSON.stringify(spec)}: ${why} (expected [HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp], e.g. 127.0.0.1:8080:80/tcp)`);
}

function port(spec: string, what: string, s: string): number {
  if (s.includes("-")) bad(spec, `port ranges are not supported (${what} ${JSON.stringify(s)})`);
  const n = Number(s);
  if (!PORT_RE.test(s) || n > 65535) bad(spec, `the ${what} must be a number from 1 to 65535, got ${JSON.stringify(s)}`);
  return n;
}

export function parsePortSpec(spec: string, policy: PortPolicy): PublishedPort {
  if (spec.length === 0 || spec.length > 80) bad(spec, "it is empty or too long");
  const slash = spec.indexOf("/");
  const body = slash < 0 ? spec : spec.slice(0, slash);
  const proto = slash < 0 ? "tcp" : spec.slice(slash + 1);
  if (proto !== "tcp" && proto !== "udp") bad(spec, `the protocol must be tcp or udp, got ${JSON.stringify(proto)}`);

  let hostIp = policy.defaultAddress;
  let rest = body;
  if (body.startsWith("[")) {
    const close = body.indexOf("]:");
    if (close < 0) bad(spec, "an IPv6 host address must be written [ADDR]:HOSTPORT:GUESTPORT");
    hostIp = body.slice(1, close);
    if (isIP(hostIp) !== 6) bad(spec, `${JSON.stringify(hostIp)} is not an IPv6 address`);
    rest = body.slice(close + 2);
  } else {
    const parts = body.split(":");
    if (parts.length > 3) bad(spec, "an IPv6 host address must be in brackets");
    if (parts.length === 3) {
      hostIp = parts[0]!;
      if (isIP(hostIp) !== 4) bad(spec, `${JSON.stringify(hostIp)} is not an IPv4 address`);
      rest = `${parts[1]!}:${parts[2]!}`;
    }
  }
  const hp = rest.split(":");
  if (hp.length === 1) bad(spec, "a host port is required (walk does not pick random host ports)");
  if (hp.length !== 2) bad(spec, "too many ':' separated parts");
  const hostPort = port(spec, "host port", hp[0]!);
  const guestPort = port(spec, "guest port", hp[1]!);
  if (hostPort < 1024 && !policy.allowPrivileged) {
    throw new WalkError(
      "forbidden",
      `host port ${hostPort} in ${JSON.stringify(spec)} is privileged (below 1024); publish a port from 1024 up, or have the operator set network.allow_privileged_ports = true`,
    );
  }
  return { hostIp, hostPort, guestPort, protocol: proto };
}

const isWildcard = (ip: string): boolean => ip === "0.0.0.0" || ip === "::";

/** True when the two would fight for the same host socket. */
export function portsClash(a: PublishedPort, b: PublishedPort): boolean {
  return a.protocol === b.protocol && a.hostPort === b.hostPort && (a.hostIp === b.hostIp || isWildcard(a.hostIp) || isWildcard(b.hostIp));
}

export function formatPort(p: PublishedPort): string {
  const ip = p.hostIp.includes(":") ? `[${p.hostIp}]` : p.hostIp;
  return `${ip}:${p.hostPort}->${p.guestPort}/${p.protocol}`;
}

/** Parses a machine's whole `-p` list and refuses two entries that claim the same host port. */
export function parsePortSpecs(specs: readonly string[], policy: PortPolicy): PublishedPort[] {
  const out: PublishedPort[] = [];
  for (const s of specs) {
    const p = parsePortSpec(s, policy);
    const dup = out.find((q) => portsClash(p, q));
    if (dup) throw new WalkError("invalid_argument", `port specs publish host port ${formatPort(p)} twice (it clashes with ${formatPort(dup)})`);
    out.push(p);
  }
  return out;
}
