import { test } from "node:test";
import assert from "node:assert/strict";
import { endToEnd, rawHead, upstreamRequestHeaders } from "./headers.js";

test("hop-by-hop headers and the ones Connection lists are removed", () => {
  const out = endToEnd({
    connection: "keep-alive, X-Secret",
    "keep-alive": "timeout=5",
    "x-secret": "1",
    te: "trailers",
    trailer: "x-t",
    "transfer-encoding": "chunked",
    upgrade: "websocket",
    "proxy-authorization": "Basic x",
    "proxy-connection": "keep-alive",
    "content-type": "text/plain",
    "set-cookie": ["a=1", "b=2"],
  });
  assert.deepEqual(out, { "content-type": "text/plain", "set-cookie": ["a=1", "b=2"] });
});

test("an upgrade keeps Upgrade and Connection: upgrade only", () => {
  const out = endToEnd({ connection: "Upgrade, x-a", upgrade: "websocket", "x-a": "1", "sec-websocket-key": "k" }, true);
  assert.deepEqual(out, { connection: "upgrade", upgrade: "websocket", "sec-websocket-key": "k" });
});

test("X-Forwarded-For appends; -Proto and -Host are walkd's own", () => {
  const h = upstreamRequestHeaders({ host: "shop.localhost:8080", "x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https", "x-forwarded-host": "evil" }, { remoteAddress: "127.0.0.1", host: "shop.localhost:8080", proto: "http" });
  assert.equal(h["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
  assert.equal(h["x-forwarded-proto"], "http");
  assert.equal(h["x-forwarded-host"], "shop.localhost:8080");
  assert.equal(h.host, "shop.localhost:8080");
  const first = upstreamRequestHeaders({}, { remoteAddress: "::1", host: undefined, proto: "http" });
  assert.equal(first["x-forwarded-for"], "::1");
  assert.equal(first["x-forwarded-host"], undefined);
});

test("rawHead writes each value of a repeated header on its own line", () => {
  assert.equal(rawHead(101, "Switching Protocols", { upgrade: "x", "set-cookie": ["a", "b"] }), "HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\nset-cookie: a\r\nset-cookie: b\r\n\r\n");
});
