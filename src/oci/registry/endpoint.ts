// Which registry hosts may be spoken to over plain HTTP. TLS is the default for everything; plain
// HTTP needs the host in the configured insecure list, or a loopback host while the loopback
// default is on. Decides only; connects nowhere.
import { isIP } from "node:net";

export interface PlainHttpPolicy {
  /** host[:port] entries (or bare hosts, matching any port) that may use plain HTTP. */
  insecureRegistries?: readonly string[];
  /** localhost, 127.0.0.0/8 and ::1 may use plain HTTP. Default true. */
  allowLoopbackPlainHttp?: boolean;
}

/** Splits "host:port", "[v6]:port" or "host" into a lowercase hostname and an optional port. */
export function splitHostPort(hostPort: string): { hostname: string; port?: string } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::([0-9]+))?$/.exec(hostPort);
  if (!m?.[1]) return { hostname: hostPort.toLowerCase() };
  const hostname = m[1].toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return m[2] === undefined ? { hostname } : { hostname, port: m[2] };
}

/** localhost, any 127.x.y.z address, or ::1. Names other than "localhost" are not resolved. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  if (isIP(h) === 6) return h === "::1" || h === "0:0:0:0:0:0:0:1";
  return false;
}

/** May `hostPort` (as in a URL authority, e.g. "127.0.0.1:5000") be spoken to without TLS? */
export function plainHttpAllowed(hostPort: string, policy: PlainHttpPolicy): boolean {
  const { hostname, port } = splitHostPort(hostPort);
  if ((policy.allowLoopbackPlainHttp ?? true) && isLoopbackHost(hostname)) return true;
  return (policy.insecureRegistries ?? []).some((entry) => {
    const e = splitHostPort(entry.trim());
    return e.hostname === hostname && (e.port === undefined || e.port === port);
  });
}
