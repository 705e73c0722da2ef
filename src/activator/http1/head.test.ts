import { test } from "node:test";
import assert from "node:assert/strict";
import { HeadError, MAX_HEADER_FIELDS, parseRequestHead, parseResponseHead } from "./head.js";

const req = (lines: string[]): string => lines.join("\r\n");

test("a request head: method, target, fields in order and case, framing, keep-alive", () => {
  const h = parseRequestHead(req(["POST /a/b?c=d HTTP/1.1", "Host: shop.localhost", "X-Two: 1", "x-two:  2  ", "Content-Length: 12"]));
  assert.equal(h.method, "POST");
  assert.equal(h.target, "/a/b?c=d");
  assert.equal(h.minor, 1);
  assert.equal(h.host, "shop.localhost");
  assert.deepEqual(h.headers, ["Host", "shop.localhost", "X-Two", "1", "x-two", "2", "Content-Length", "12"]);
  assert.deepEqual(h.framing, { kind: "length", length: 12 });
  assert.equal(h.keepAlive, true);
  assert.equal(h.upgrade, undefined);
  assert.equal(h.authority, undefined);
});

test("framing of requests: none, length 0, chunked (any case), and keep-alive by version and Connection", () => {
  assert.deepEqual(parseRequestHead(req(["GET / HTTP/1.1", "Host: a"])).framing, { kind: "none" });
  assert.deepEqual(parseRequestHead(req(["POST / HTTP/1.1", "Host: a", "Content-Length: 0"])).framing, { kind: "length", length: 0 });
  assert.deepEqual(parseRequestHead(req(["POST / HTTP/1.1", "Host: a", "Transfer-Encoding: Chunked"])).framing, { kind: "chunked" });
  assert.equal(parseRequestHead(req(["GET / HTTP/1.1", "Host: a", "Connection: keep-alive, Close"])).keepAlive, false);
  assert.equal(parseRequestHead(req(["GET / HTTP/1.0"])).keepAlive, false);
  assert.equal(parseRequestHead(req(["GET / HTTP/1.0", "Connection: keep-alive"])).keepAlive, true);
  assert.equal(parseRequestHead(req(["GET / HTTP/1.0"])).host, undefined); // routing refuses it, not the parser
  assert.equal(parseRequestHead(req(["GET / HTTP/1.2", "Host: a"])).minor, 1); // a later 1.x is read as 1.1
  assert.deepEqual([...parseRequestHead(req(["GET / HTTP/1.1", "Host: a", "Connection: X-A,  x-b ,,"])).connection], ["x-a", "x-b"]);
});

test("upgrades: only with Connection: upgrade, an Upgrade value and no body", () => {
  assert.equal(parseRequestHead(req(["GET /ws HTTP/1.1", "Host: a", "Connection: Upgrade", "Upgrade: websocket"])).upgrade, "websocket");
  assert.equal(parseRequestHead(req(["GET /ws HTTP/1.1", "Host: a", "Upgrade: websocket"])).upgrade, undefined);
  assert.equal(parseRequestHead(req(["POST /ws HTTP/1.1", "Host: a", "Connection: upgrade", "Upgrade: h2c", "Content-Length: 3"])).upgrade, undefined);
  assert.equal(parseRequestHead(req(["GET /ws HTTP/1.1", "Host: a", "Connection: upgrade", "Upgrade: x", "Content-Length: 0"])).upgrade, "x");
});

test("absolute-form targets route by their authority and are forwarded in origin form; * only for OPTIONS", () => {
  const h = parseRequestHead(req(["GET http://Shop.localhost:8040/x?y HTTP/1.1", "Host: other"]));
  assert.equal(h.authority, "Shop.localhost:8040");
  assert.equal(h.target, "/x?y");
  assert.equal(parseRequestHead(req(["GET https://shop.localhost HTTP/1.1", "Host: a"])).target, "/");
  assert.equal(parseRequestHead(req(["GET http://shop.localhost?q HTTP/1.1", "Host: a"])).target, "/?q");
  assert.equal(parseRequestHead(req(["OPTIONS * HTTP/1.1", "Host: a"])).target, "*");
});

const BAD_REQUESTS: Array<[string, string[], number, RegExp]> = [
  ["a bare LF ends a field", ["GET / HTTP/1.1", "Host: a\nX-Evil: 1"], 400, /malformed header field/],
  ["a bare CR in a value", ["GET / HTTP/1.1", "Host: a", "X: a\rb"], 400, /malformed header field/],
  ["a NUL in a value", ["GET / HTTP/1.1", "Host: a", "X: a\0b"], 400, /control character/],
  ["DEL in a value", ["GET / HTTP/1.1", "Host: a", "X: a\x7fb"], 400, /control character/],
  ["whitespace before the colon", ["GET / HTTP/1.1", "Host: a", "Transfer-Encoding : chunked"], 400, /malformed header field/],
  ["obsolete line folding", ["GET / HTTP/1.1", "Host: a", "X: a", " b"], 400, /obsolete line folding/],
  ["a field without a colon", ["GET / HTTP/1.1", "Host: a", "Nonsense"], 400, /malformed header field/],
  ["an empty field name", ["GET / HTTP/1.1", "Host: a", ": x"], 400, /malformed header field/],
  ["a separator in a field name", ["GET / HTTP/1.1", "Host: a", "X(y): 1"], 400, /malformed header field/],
  ["Transfer-Encoding with Content-Length", ["POST / HTTP/1.1", "Host: a", "Content-Length: 5", "Transfer-Encoding: chunked"], 400, /both Transfer-Encoding and Content-Length/],
  ["Content-Length with Transfer-Encoding, other order", ["POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "Content-Length: 5"], 400, /both Transfer-Encoding and Content-Length/],
  ["two Content-Lengths", ["POST / HTTP/1.1", "Host: a", "Content-Length: 5", "Content-Length: 5"], 400, /more than one Content-Length/],
  ["a list as Content-Length", ["POST / HTTP/1.1", "Host: a", "Content-Length: 5, 5"], 400, /is not a length/],
  ["a signed Content-Length", ["POST / HTTP/1.1", "Host: a", "Content-Length: +5"], 400, /is not a length/],
  ["a hex Content-Length", ["POST / HTTP/1.1", "Host: a", "Content-Length: 0x5"], 400, /is not a length/],
  ["an enormous Content-Length", ["POST / HTTP/1.1", "Host: a", "Content-Length: 99999999999999999999"], 400, /is not a length/],
  ["an empty Content-Length", ["POST / HTTP/1.1", "Host: a", "Content-Length:"], 400, /is not a length/],
  ["Transfer-Encoding in HTTP/1.0", ["POST / HTTP/1.0", "Transfer-Encoding: chunked"], 400, /HTTP\/1\.0/],
  ["two Hosts", ["GET / HTTP/1.1", "Host: a", "Host: b"], 400, /more than one Host/],
  ["HTTP/1.1 without Host", ["GET / HTTP/1.1"], 400, /without Host/],
  ["a target that is neither origin nor absolute form", ["GET a/b HTTP/1.1", "Host: a"], 400, /malformed request target/],
  ["userinfo in an absolute target", ["GET http://u@shop.localhost/ HTTP/1.1", "Host: a"], 400, /malformed request target/],
  ["* with GET", ["GET * HTTP/1.1", "Host: a"], 400, /OPTIONS only/],
  ["two spaces in the request line", ["GET  / HTTP/1.1", "Host: a"], 400, /malformed request line/],
  ["a lowercase version", ["GET / http/1.1", "Host: a"], 400, /malformed request line/],
  ["a control byte in the target", ["GET /a\x01 HTTP/1.1", "Host: a"], 400, /malformed request line/],
  ["a space in the target", ["GET /a b HTTP/1.1", "Host: a"], 400, /malformed request line/],
  ["a trailing space after the version", ["GET / HTTP/1.1 ", "Host: a"], 400, /malformed request line/],
  ["an empty request line", ["", "Host: a"], 400, /malformed request line/],
  ["HTTP/2.0", ["GET / HTTP/2.0", "Host: a"], 505, /only HTTP\/1\.0 and HTTP\/1\.1/],
  ["HTTP/0.9 style version", ["GET / HTTP/0.9", "Host: a"], 505, /only HTTP\/1\.0 and HTTP\/1\.1/],
  ["gzip, chunked", ["POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip, chunked"], 501, /not supported \(only chunked\)/],
  ["chunked, chunked", ["POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"], 501, /not supported/],
  ["an unknown coding", ["POST / HTTP/1.1", "Host: a", "Transfer-Encoding: xchunked"], 501, /not supported/],
  ["identity", ["POST / HTTP/1.1", "Host: a", "Transfer-Encoding: identity"], 501, /not supported/],
  ["CONNECT", ["CONNECT shop.localhost:443 HTTP/1.1", "Host: shop.localhost:443"], 501, /CONNECT is not supported/],
];

for (const [what, lines, status, message] of BAD_REQUESTS) {
  test(`a request head is refused: ${what}`, () => {
    assert.throws(
      () => parseRequestHead(req(lines)),
      (e: unknown) => e instanceof HeadError && e.status === status && message.test(e.message),
    );
  });
}

test("more than the maximum number of fields is refused; the maximum is accepted", () => {
  const fields = (n: number): string[] => ["GET / HTTP/1.1", "Host: a", ...Array.from({ length: n - 1 }, (_, i) => `X-${i}: v`)];
  assert.throws(() => parseRequestHead(req(fields(MAX_HEADER_FIELDS + 1))), /more than 256 header fields/);
  assert.equal(parseRequestHead(req(fields(MAX_HEADER_FIELDS))).headers.length, MAX_HEADER_FIELDS * 2);
});

test("obs-text in a value passes through unchanged", () => {
  assert.deepEqual(parseRequestHead(req(["GET / HTTP/1.1", "Host: a", "X: caf\xe9"])).headers, ["Host", "a", "X", "caf\xe9"]);
});

test("response framing: length, chunked, close-delimited, and no body for HEAD, 1xx, 204 and 304", () => {
  const res = (lines: string[], method = "GET") => parseResponseHead(req(lines), method);
  assert.deepEqual(res(["HTTP/1.1 200 OK", "Content-Length: 3"]).framing, { kind: "length", length: 3 });
  assert.deepEqual(res(["HTTP/1.1 200 OK", "Transfer-Encoding: chunked"]).framing, { kind: "chunked" });
  assert.deepEqual(res(["HTTP/1.1 200 OK"]).framing, { kind: "close" });
  assert.equal(res(["HTTP/1.1 200 OK"]).reusable, false);
  assert.deepEqual(res(["HTTP/1.1 200 OK", "Content-Length: 3"], "HEAD").framing, { kind: "none" });
  for (const s of [100, 103, 204, 304]) assert.deepEqual(res([`HTTP/1.1 ${s} X`, "Content-Length: 3"]).framing, { kind: "none" }, String(s));
  assert.equal(res(["HTTP/1.1 200 OK", "Content-Length: 3"]).reusable, true);
  assert.equal(res(["HTTP/1.1 200 OK", "Content-Length: 3", "Connection: close"]).reusable, false);
  assert.equal(res(["HTTP/1.0 200 OK", "Content-Length: 3"]).reusable, false);
  const r = res(["HTTP/1.1 404", "X-A: 1"]);
  assert.equal(r.status, 404);
  assert.equal(r.reason, "");
});

const BAD_RESPONSES: Array<[string, string[], RegExp]> = [
  ["no status line", ["200 OK"], /malformed status line/],
  ["a two-digit status", ["HTTP/1.1 20 OK"], /malformed status line/],
  ["HTTP/2", ["HTTP/2.0 200 OK"], /not HTTP\/1\.x/],
  ["a control byte in the reason", ["HTTP/1.1 200 O\x01K"], /reason phrase/],
  ["Transfer-Encoding with Content-Length", ["HTTP/1.1 200 OK", "Content-Length: 3", "Transfer-Encoding: chunked"], /both Transfer-Encoding and Content-Length/],
  ["two Content-Lengths", ["HTTP/1.1 200 OK", "Content-Length: 3", "Content-Length: 4"], /more than one Content-Length/],
  ["gzip transfer coding", ["HTTP/1.1 200 OK", "Transfer-Encoding: gzip"], /only chunked/],
  ["a split header", ["HTTP/1.1 200 OK", "Set-Cookie: a\nX-Injected: 1"], /malformed header field/],
];

for (const [what, lines, message] of BAD_RESPONSES) {
  test(`an upstream response head is refused: ${what}`, () => {
    assert.throws(() => parseResponseHead(req(lines), "GET"), (e: unknown) => e instanceof HeadError && message.test(e.message) && /^the app's response: /.test(e.message));
  });
}
