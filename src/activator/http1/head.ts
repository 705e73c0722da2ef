// Strict HTTP/1.1 message heads (RFC 9112): parses a client's request head and an upstream's
// response head, and decides how each message's body is framed. Whatever could be read two ways
// by two parsers is refused: bare CR or LF, obs-fold, whitespace before a colon, control bytes,
// Transfer-Encoding together with Content-Length, a transfer coding other than "chunked", a second
// Host or Content-Length. So the next hop can frame what walkd forwards in exactly one way, and
// nobody smuggles a request through the activator. Pure functions over strings; no sockets.

/** How a message body is delimited. "close": until the sender closes (responses only). */
export type Framing = { kind: "none" } | { kind: "length"; length: number } | { kind: "chunked" } | { kind: "close" };

/** Header fields as received: [name0, value0, name1, value1, ...], names in their original case. */
export type HeaderList = string[];

/** A message with this framing carries body bytes (a length of 0 is none). */
export function hasBody(f: Framing): boolean {
  return f.kind === "chunked" || f.kind === "close" || (f.kind === "length" && f.length > 0);
}

export interface RequestHead {
  method: string;
  /** The origin-form path and query ("/a?b"), or "*". */
  target: string;
  /** The authority of an absolute-form target ("http://shop.localhost/a" → "shop.localhost"). */
  authority: string | undefined;
  /** HTTP/1.0 → 0, HTTP/1.1 (or a later 1.x) → 1. */
  minor: 0 | 1;
  headers: HeaderList;
  /** The Host header's value (undefined when absent). */
  host: string | undefined;
  framing: Framing;
  /** The client wants the connection kept after this exchange. */
  keepAlive: boolean;
  /** The protocol asked for by `Connection: upgrade` + `Upgrade:`, for a bodiless request. */
  upgrade: string | undefined;
  /** Lowercased tokens of the Connection header: more hop-by-hop field names. */
  connection: ReadonlySet<string>;
}

export interface ResponseHead {
  minor: 0 | 1;
  status: number;
  reason: string;
  headers: HeaderList;
  framing: Framing;
  /** The upstream connection may carry another request after this response. */
  reusable: boolean;
  connection: ReadonlySet<string>;
}

/** A head walkd refuses; `status` is what a client gets for it (an upstream's bad head is a 502). */
export class HeadError extends Error {
  constructor(
    readonly status: 400 | 501 | 505,
    message: string,
  ) {
    super(message);
    this.name = "HeadError";
  }
}

/** A field line: a token, a colon right after it, the value without its surrounding OWS. */
const FIELD = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[\t ]*(.*?)[\t ]*$/;
/** Field values and reason phrases: HTAB, SP, visible ASCII, obs-text. Never CR, LF, NUL or DEL. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP\/(\d)\.(\d)$/;
const STATUS_LINE = /^HTTP\/(\d)\.(\d) ([1-9]\d\d)(?: (.*))?$/;
const ABSOLUTE_FORM = /^https?:\/\/([^/?#@]+)([/?][\x21-\x7e]*)?$/i;
const DIGITS = /^\d{1,15}$/;

/** Most header fields accepted in one head; far beyond any real client, bounding the work per head. */
export const MAX_HEADER_FIELDS = 256;

interface Fields {
  headers: HeaderList;
  connection: Set<string>;
  contentLength: number | undefined;
  transferEncoding: string | undefined;
  host: string | undefined;
  hostCount: number;
  upgrade: string | undefined;
}

/** Splits and checks the field lines after the start line; the caller maps a violation to its status. */
function readFields(lines: string[], fail: (msg: string) => never): Fields {
  if (lines.length - 1 > MAX_HEADER_FIELDS) fail(`more than ${MAX_HEADER_FIELDS} header fields`);
  const f: Fields = { headers: [], connection: new Set(), contentLength: undefined, transferEncoding: undefined, host: undefined, hostCount: 0, upgrade: undefined };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const m = FIELD.exec(line);
    if (m === null) {
      if (line.startsWith(" ") || line.startsWith("\t")) fail("obsolete line folding in a header field");
      fail(`malformed header field ${JSON.stringify(line.slice(0, 40))}`);
    }
    const name = m[1]!;
    const value = m[2]!;
    if (!FIELD_VALUE.test(value)) fail(`header field ${name} has a control character in its value`);
    f.headers.push(name, value);
    switch (name.toLowerCase()) {
      case "content-length":
        if (f.contentLength !== undefined) fail("more than one Content-Length");
        if (!DIGITS.test(value)) fail(`Content-Length ${JSON.stringify(value.slice(0, 20))} is not a length`);
        f.contentLength = Number(value);
        break;
      case "transfer-encoding":
        f.transferEncoding = f.transferEncoding === undefined ? value : `${f.transferEncoding}, ${value}`;
        break;
      case "host":
        f.hostCount++;
        f.host = value;
        break;
      case "connection":
        for (const t of value.split(",")) {
          const tok = t.trim().toLowerCase();
          if (tok !== "") f.connection.add(tok);
        }
        break;
      case "upgrade":
        f.upgrade = value;
        break;
    }
  }
  return f;
}

/** The framing a Transfer-Encoding allows: only exactly "chunked" is accepted, anything else is refused. */
function chunkedOnly(te: string): boolean {
  const codings = te.split(",").map((c) => c.trim().toLowerCase()).filter((c) => c !== "");
  return codings.length === 1 && codings[0] === "chunked";
}

function minorOf(major: string, minor: string): 0 | 1 | undefined {
  if (major !== "1") return undefined;
  return minor === "0" ? 0 : 1;
}

/**
 * Parses a request head: `text` is everything before the blank line that ends it (latin1, CRLF
 * separated, no leading empty lines). Throws HeadError: 400 for a malformed or ambiguous head, 501
 * for a transfer coding walkd does not implement, 505 for an HTTP version other than 1.x.
 */
export function parseRequestHead(text: string): RequestHead {
  const fail: (msg: string) => never = (msg) => {
    throw new HeadError(400, msg);
  };
  const lines = text.split("\r\n");
  const start = REQUEST_LINE.exec(lines[0]!);
  if (start === null) {
    if (/^[!-~]+ [!-~]+ HTTP\/\d\.\d$/.test(lines[0]!)) throw new HeadError(505, "only HTTP/1.0 and HTTP/1.1 are supported");
    fail("malformed request line");
  }
  const minor = minorOf(start[3]!, start[4]!);
  if (minor === undefined) throw new HeadError(505, "only HTTP/1.0 and HTTP/1.1 are supported");
  const method = start[1]!;
  let target = start[2]!;
  let authority: string | undefined;
  if (method === "CONNECT") throw new HeadError(501, "CONNECT is not supported: walkd is not a forward proxy");
  if (target === "*") {
    if (method !== "OPTIONS") fail("the asterisk target is for OPTIONS only");
  } else if (!target.startsWith("/")) {
    const abs = ABSOLUTE_FORM.exec(target);
    if (abs === null) fail("malformed request target");
    authority = abs[1]!;
    target = abs[2] === undefined ? "/" : abs[2].startsWith("?") ? `/${abs[2]}` : abs[2];
  }
  const f = readFields(lines, fail);
  if (f.hostCount > 1) fail("more than one Host");
  if (minor === 1 && f.hostCount === 0) fail("an HTTP/1.1 request without Host");
  let framing: Framing = { kind: "none" };
  if (f.transferEncoding !== undefined) {
    if (minor === 0) fail("Transfer-Encoding in an HTTP/1.0 request");
    if (f.contentLength !== undefined) fail("both Transfer-Encoding and Content-Length");
    if (!chunkedOnly(f.transferEncoding)) throw new HeadError(501, `transfer coding ${JSON.stringify(f.transferEncoding.slice(0, 40))} is not supported (only chunked)`);
    framing = { kind: "chunked" };
  } else if (f.contentLength !== undefined) {
    framing = { kind: "length", length: f.contentLength };
  }
  const keepAlive = minor === 1 ? !f.connection.has("close") : f.connection.has("keep-alive") && !f.connection.has("close");
  // A server may ignore Upgrade (RFC 9110 §7.8); walkd does when the request has a body, so the
  // bytes after the head are either that body or the new protocol, never both.
  const upgrade = f.connection.has("upgrade") && f.upgrade !== undefined && f.upgrade !== "" && !hasBody(framing) ? f.upgrade : undefined;
  return { method, target, authority, minor, headers: f.headers, host: f.host, framing, keepAlive, upgrade, connection: f.connection };
}

/**
 * Parses an upstream's response head (`text` as for requests) to a request with `method`. Throws
 * HeadError (status 400: the caller answers 502) for anything malformed or ambiguous.
 */
export function parseResponseHead(text: string, method: string): ResponseHead {
  const fail: (msg: string) => never = (msg) => {
    throw new HeadError(400, `the app's response: ${msg}`);
  };
  const lines = text.split("\r\n");
  const start = STATUS_LINE.exec(lines[0]!);
  if (start === null) fail("malformed status line");
  const minor = minorOf(start[1]!, start[2]!);
  if (minor === undefined) fail("not HTTP/1.x");
  const reason = start[4] ?? "";
  if (!FIELD_VALUE.test(reason)) fail("a control character in the reason phrase");
  const status = Number(start[3]);
  const f = readFields(lines, fail);
  let framing: Framing;
  if (method === "HEAD" || status < 200 || status === 204 || status === 304) {
    framing = { kind: "none" };
  } else if (f.transferEncoding !== undefined) {
    if (f.contentLength !== undefined) fail("both Transfer-Encoding and Content-Length");
    if (!chunkedOnly(f.transferEncoding)) fail(`transfer coding ${JSON.stringify(f.transferEncoding.slice(0, 40))} (only chunked)`);
    framing = { kind: "chunked" };
  } else if (f.contentLength !== undefined) {
    framing = { kind: "length", length: f.contentLength };
  } else {
    framing = { kind: "close" };
  }
  const reusable = minor === 1 && !f.connection.has("close") && framing.kind !== "close";
  return { minor, status, reason, headers: f.headers, framing, reusable, connection: f.connection };
}

