// Writing HTTP/1.1 heads for the two hops: the request head walkd sends upstream and the response
// heads it sends the client. Hop-by-hop fields are dropped both ways (RFC 9110 §7.6.1: the fixed
// list, any Proxy-*, and whatever Connection names); framing fields are always walkd's own, never
// copied; X-Forwarded-* are set on the way up. Pure string building over parsed heads.
import type { RequestHead, ResponseHead } from "./head.js";

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);

function isHopByHop(lower: string, listed: ReadonlySet<string>): boolean {
  return HOP_BY_HOP.has(lower) || lower.startsWith("proxy-") || (listed.size > 0 && listed.has(lower));
}

/** How walkd frames a body it forwards. */
export type OutFraming = "none" | "length" | "chunked" | "close";

export interface Forwarded {
  /** The client's address as the listener saw it. */
  remoteAddress: string;
}

/**
 * The head walkd sends upstream. X-Forwarded-For gets the client appended to any list it brought;
 * X-Forwarded-Proto and -Host are walkd's (it is the edge), replacing the client's. Host passes
 * unchanged, or is the absolute-form target's authority. For an upgrade, Connection: upgrade and
 * Upgrade are kept.
 */
export function upstreamRequestHead(req: RequestHead, from: Forwarded): string {
  let out = `${req.method} ${req.target} HTTP/1.1\r\n`;
  let xff: string | undefined;
  const h = req.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    const lower = name.toLowerCase();
    if (isHopByHop(lower, req.connection) || lower === "content-length" || lower === "x-forwarded-proto" || lower === "x-forwarded-host") continue;
    if (lower === "x-forwarded-for") {
      const v = h[i + 1]!.trim();
      if (v !== "") xff = xff === undefined ? v : `${xff}, ${v}`;
      continue;
    }
    if (lower === "host" && req.authority !== undefined) continue;
    out += `${name}: ${h[i + 1]!}\r\n`;
  }
  const host = req.authority ?? req.host;
  if (req.authority !== undefined) out += `host: ${req.authority}\r\n`;
  out += `x-forwarded-for: ${xff === undefined ? from.remoteAddress : `${xff}, ${from.remoteAddress}`}\r\nx-forwarded-proto: http\r\n`;
  if (host !== undefined && host !== "") out += `x-forwarded-host: ${host}\r\n`;
  const f = req.framing;
  if (f.kind === "length") out += `content-length: ${f.length}\r\n`;
  else if (f.kind === "chunked") out += "transfer-encoding: chunked\r\n";
  if (req.upgrade !== undefined) out += `connection: upgrade\r\nupgrade: ${req.upgrade}\r\n`;
  return `${out}\r\n`;
}

/**
 * A response head for the client from the upstream's: end-to-end fields as received, then walkd's
 * framing, its timing lines (`timing(upstreamServerTiming)`: complete header lines), and
 * `connection: close` when the client connection ends after this response. For a 101, the
 * upstream's Upgrade is kept with Connection: upgrade.
 */
export function clientResponseHead(res: ResponseHead, framing: OutFraming, timing: ((serverTiming: string | undefined) => string) | undefined, close: boolean): string {
  let out = `HTTP/1.1 ${res.status} ${res.reason}\r\n`;
  let serverTiming: string | undefined;
  let upgrade: string | undefined;
  const h = res.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    const lower = name.toLowerCase();
    if (lower === "upgrade") upgrade = h[i + 1];
    if (isHopByHop(lower, res.connection)) continue;
    if (lower === "content-length" && framing !== "length" && framing !== "none") continue;
    if (lower === "server-timing" && timing !== undefined) {
      serverTiming = serverTiming === undefined ? h[i + 1] : `${serverTiming}, ${h[i + 1]!}`;
      continue;
    }
    out += `${name}: ${h[i + 1]!}\r\n`;
  }
  if (framing === "chunked") out += "transfer-encoding: chunked\r\n";
  if (timing !== undefined) out += timing(serverTiming);
  if (res.status === 101 && upgrade !== undefined) out += `connection: upgrade\r\nupgrade: ${upgrade}\r\n`;
  else if (close) out += "connection: close\r\n";
  return `${out}\r\n`;
}

let dateSecond = -1;
let dateValue = "";

/** The Date field value, formatted once per second (RFC 9110 §5.6.7 IMF-fixdate). */
export function httpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
}
