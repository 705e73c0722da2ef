// Header rewriting between client and upstream: hop-by-hop headers are removed in both
// directions (RFC 9110 §7.6.1) and the X-Forwarded-* headers are set on the way up. Pure
// functions over header objects; no sockets.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);

function isHopByHop(name: string, listed: Set<string>): boolean {
  return HOP_BY_HOP.has(name) || name.startsWith("proxy-") || listed.has(name);
}

function connectionTokens(value: string | string[] | undefined): Set<string> {
  const joined = Array.isArray(value) ? value.join(",") : (value ?? "");
  return new Set(joined.split(",").map((t) => t.trim().toLowerCase()).filter((t) => t.length > 0));
}

/**
 * The headers without hop-by-hop ones (the fixed list, any Proxy-*, and whatever Connection lists).
 * With `upgrade`, Connection: upgrade and the Upgrade header are kept, for a protocol switch.
 */
export function endToEnd(headers: IncomingHttpHeaders, upgrade = false): OutgoingHttpHeaders {
  const listed = connectionTokens(headers.connection);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || isHopByHop(name, listed)) continue;
    out[name] = value;
  }
  if (upgrade && typeof headers.upgrade === "string") {
    out.connection = "upgrade";
    out.upgrade = headers.upgrade;
  }
  return out;
}

export interface ForwardedFrom {
  /** The client's address as this listener saw it. */
  remoteAddress: string | undefined;
  /** The Host header the client sent (empty when it sent none). */
  host: string | undefined;
  /** The scheme the client used to reach walkd; the activator listens in plain HTTP. */
  proto: "http" | "https";
}

/**
 * Request headers for the upstream: X-Forwarded-For gets the client appended to any list it
 * brought; -Proto and -Host are set from what walkd saw (a client's own values are replaced, as
 * walkd is the edge and knows better).
 */
export function upstreamRequestHeaders(headers: IncomingHttpHeaders, from: ForwardedFrom, upgrade = false): OutgoingHttpHeaders {
  const out = endToEnd(headers, upgrade);
  const raw = headers["x-forwarded-for"];
  const prior = Array.isArray(raw) ? raw.join(", ") : raw;
  const client = from.remoteAddress ?? "unknown";
  out["x-forwarded-for"] = prior === undefined || prior.trim() === "" ? client : `${prior}, ${client}`;
  out["x-forwarded-proto"] = from.proto;
  if (from.host !== undefined && from.host !== "") out["x-forwarded-host"] = from.host;
  else delete out["x-forwarded-host"];
  return out;
}

/** Serializes a status line and headers for a raw socket (upgrade responses and errors on upgrade requests). */
export function rawHead(statusCode: number, statusMessage: string, headers: OutgoingHttpHeaders): string {
  let s = `HTTP/1.1 ${statusCode} ${statusMessage}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) s += `${name}: ${String(v)}\r\n`;
  }
  return `${s}\r\n`;
}
