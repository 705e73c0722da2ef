// The activator's proxying against real loopback servers: routing, header rewriting, streaming
// both ways with backpressure, aborts, upstream timeouts, upgrades (a websocket), keep-alive pools.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer, request, type IncomingMessage, type RequestListener, type ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";
import { Activator, type AppRoute, type ActivatorOptions } from "../../src/activator/index.js";
import { TestBackend, eventually, fetchVia, sleep, unusedPort, type TestBackendOptions } from "../../src/activator/testing.js";
import { isWalkError } from "../../src/lib/index.js";

async function withApp(handler: RequestListener, fn: (a: Activator, b: TestBackend, port: number) => Promise<void>, route: Partial<AppRoute> = {}, opts: ActivatorOptions = {}, backendOpts: Partial<TestBackendOptions> = {}): Promise<void> {
  const b = new TestBackend({ handler, wakeDelayMs: 0, ...backendOpts });
  const a = await Activator.start(opts, [{ name: "shop", backends: [b], ...route }]);
  try {
    await fn(a, b, a.address.port);
  } finally {
    await a.close();
    await b.stop();
  }
}

const echoHeaders = (req: IncomingMessage, res: ServerResponse): void => {
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify(req.headers));
};

/** Sends raw bytes, resolves with everything read until the server closes or `until` matches. */
function raw(port: number, data: string, until?: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    let got = "";
    s.on("data", (c) => {
      got += c.toString("latin1");
      if (until?.test(got)) {
        s.destroy();
        resolve(got);
      }
    });
    s.on("end", () => resolve(got));
    s.on("error", reject);
    s.write(data);
  });
}

test("routing: case, port suffix and trailing dot reach the app; unknown hosts get 404, malformed 400", async () => {
  await withApp(echoHeaders, async (a, _b, port) => {
    for (const host of ["shop.localhost", "SHOP.Localhost:8080", "shop.localhost.", "shop.example.com"]) {
      assert.equal((await fetchVia(port, host)).status, 200, host);
    }
    const unknown = await fetchVia(port, "blog.localhost");
    assert.equal(unknown.status, 404);
    assert.match(String(unknown.headers["content-type"]), /^text\/plain/);
    assert.match(unknown.body, /no app answers to this host/);
    for (const host of ["x.shop.localhost", "shop.localhost..", "localhost", "127.0.0.1"]) assert.equal((await fetchVia(port, host)).status, host === "shop.localhost.." ? 400 : 404, host);
    const noHost = await raw(port, "GET / HTTP/1.0\r\n\r\n");
    assert.match(noHost, /^HTTP\/1\.1 400 /);
    assert.deepEqual(a.metrics().unrouted, { unknown_host: 4, bad_host: 2 });
  }, { hostnames: ["Shop.Example.com"] });
});

test("routing by host port, and the route table changes at runtime all-or-nothing", async () => {
  const p1 = await unusedPort();
  await withApp(echoHeaders, async (a, b, port) => {
    assert.deepEqual(a.hostPorts(), [p1]);
    assert.equal((await fetchVia(p1, "anything.example")).status, 200);
    // A port already in use: refused, nothing changes.
    const busy = createServer();
    const p2 = await unusedPort();
    await new Promise<void>((r) => busy.listen(p2, "127.0.0.1", r));
    try {
      await assert.rejects(
        a.setRoutes([{ name: "shop", backends: [b], hostPorts: [p1] }, { name: "blog", backends: [b], hostnames: ["blog.example"], hostPorts: [p2] }]),
        (e: unknown) => isWalkError(e, "conflict") && e.message.includes(`127.0.0.1:${p2} is already in use`),
      );
    } finally {
      await new Promise<void>((r) => busy.close(() => r()));
    }
    assert.equal(a.status("blog"), undefined);
    assert.equal((await fetchVia(port, "blog.example")).status, 404);
    assert.deepEqual(a.hostPorts(), [p1]);
    // A deploy that adds an app and moves the port.
    const p3 = await unusedPort();
    await a.setRoutes([{ name: "shop", backends: [b], hostPorts: [p3] }, { name: "blog", backends: [b], hostnames: ["blog.example"] }]);
    assert.equal((await fetchVia(port, "blog.example")).status, 200);
    assert.equal((await fetchVia(p3, undefined)).status, 200);
    await assert.rejects(fetchVia(p1, undefined), /ECONNREFUSED/);
    await a.removeApp("blog");
    assert.equal((await fetchVia(port, "blog.example")).status, 404);
    await assert.rejects(a.removeApp("blog"), /app blog is not in the activator's route table/);
  }, { hostPorts: [p1] });
});

test("X-Forwarded-* are set and hop-by-hop headers are removed in both directions", async () => {
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(200, { connection: "x-internal", "x-internal": "secret", "keep-alive": "timeout=1", "proxy-authenticate": "Basic", "x-kept": "yes", "content-type": "application/json" });
    res.end(JSON.stringify(req.headers));
  };
  await withApp(handler, async (_a, _b, port) => {
    const r = await fetchVia(port, "shop.localhost:9000", {
      headers: { connection: "keep-alive, x-hop", "x-hop": "1", "keep-alive": "300", te: "trailers", "proxy-authorization": "Basic eA==", "x-forwarded-for": "198.51.100.7", "x-forwarded-proto": "https", "x-end": "kept" },
    });
    const seen = JSON.parse(r.body) as Record<string, string>;
    assert.equal(seen["x-forwarded-for"], "198.51.100.7, 127.0.0.1");
    assert.equal(seen["x-forwarded-proto"], "http");
    assert.equal(seen["x-forwarded-host"], "shop.localhost:9000");
    assert.equal(seen.host, "shop.localhost:9000");
    assert.equal(seen["x-end"], "kept");
    for (const h of ["x-hop", "keep-alive", "te", "proxy-authorization"]) assert.equal(seen[h], undefined, h);
    assert.equal(r.headers["x-kept"], "yes");
    for (const h of ["x-internal", "proxy-authenticate"]) assert.equal(r.headers[h], undefined, h);
    assert.notEqual(r.headers["keep-alive"], "timeout=1"); // walkd's own keep-alive, not the backend's
  });
});

test("upstream connections are pooled with keep-alive", async () => {
  let connections = 0;
  await withApp((_req, res) => res.end("ok"), async (_a, b, port) => {
    await fetchVia(port, "shop.localhost");
    const before = connections;
    for (let i = 0; i < 5; i++) assert.equal((await fetchVia(port, "shop.localhost")).status, 200);
    assert.equal(connections, before);
    assert.equal(b.wakes, 1);
  }, {}, {}, { onConnection: () => connections++ });
});

test("a slow streamed response works through the proxy and counts as activity", async () => {
  const handler = (_req: IncomingMessage, res: ServerResponse): void => {
    let n = 0;
    const t = setInterval(() => {
      res.write(`chunk${n}\n`);
      if (++n === 6) {
        clearInterval(t);
        res.end();
      }
    }, 100);
  };
  await withApp(handler, async (a, b, port) => {
    const r = await fetchVia(port, "shop.localhost");
    assert.equal(r.body, "chunk0\nchunk1\nchunk2\nchunk3\nchunk4\nchunk5\n");
    assert.equal(r.headers["transfer-encoding"], "chunked");
    assert.equal(b.idles, 0); // 600 ms of streaming with a 150 ms idle timeout
    await eventually("idle once the stream ended", () => b.idles === 1);
    assert.equal(a.metrics().apps.shop!.idles, 1);
  }, { limits: { idleTimeoutMs: 150, cooldownMs: 0 } });
});

test("a large upload streams with backpressure: the client stalls while the backend does not read", async () => {
  let resumeUpstream: (() => void) | undefined;
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    req.pause();
    const h = createHash("sha256");
    let bytes = 0;
    resumeUpstream = () => {
      req.on("data", (c: Buffer) => {
        bytes += c.length;
        h.update(c);
      });
      req.on("end", () => res.end(JSON.stringify({ bytes, sha: h.digest("hex") })));
      req.resume();
    };
  };
  await withApp(handler, async (_a, _b, port) => {
    const total = 64 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 7);
    const expected = createHash("sha256");
    const stalls: number[] = [];
    const result = new Promise<string>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, method: "POST", path: "/upload", headers: { host: "shop.localhost", "content-length": String(total) }, agent: false }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve(body));
      });
      req.on("error", reject);
      let written = 0;
      const pump = (): void => {
        while (written < total) {
          expected.update(chunk);
          written += chunk.length;
          if (!req.write(chunk)) {
            req.once("drain", pump);
            stalls.push(written);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    await eventually("backend request started", () => resumeUpstream !== undefined);
    await eventually("client stalled", () => stalls.length > 0);
    await sleep(300);
    // Not reading upstream holds the client back: far less than the whole body was accepted.
    assert.ok(stalls[stalls.length - 1]! < total / 2, `client wrote ${stalls[stalls.length - 1]} bytes while the backend read nothing`);
    resumeUpstream!();
    const got = JSON.parse(await result) as { bytes: number; sha: string };
    assert.equal(got.bytes, total);
    assert.equal(got.sha, expected.digest("hex"));
  });
});

test("a client abort mid-response closes the upstream request", async () => {
  let upstreamClosed = false;
  const handler = (_req: IncomingMessage, res: ServerResponse): void => {
    res.write("first");
    res.on("close", () => (upstreamClosed = true));
  };
  await withApp(handler, async (a, _b, port) => {
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, headers: { host: "shop.localhost" }, agent: false }, (res) => {
        res.once("data", () => {
          req.destroy();
          resolve();
        });
      });
      req.on("error", () => undefined);
      req.on("close", () => undefined);
      req.end();
      setTimeout(() => reject(new Error("no first chunk")), 10_000).unref();
    });
    await eventually("upstream closed", () => upstreamClosed);
    await eventually("no request in flight", () => a.status("shop")?.inFlight === 0);
  });
});

test("an upstream abort mid-response aborts the client's response", async () => {
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(200, { "content-length": "100" });
    res.write("partial");
    setTimeout(() => req.socket.destroy(), 50);
  };
  await withApp(handler, async (a, _b, port) => {
    await assert.rejects(fetchVia(port, "shop.localhost"), /aborted|socket hang up|ECONNRESET/);
    await eventually("counted", () => a.metrics().apps.shop!.refusals.upstream_error === 1);
  });
});

test("an upstream that does not answer in time gets 504 with a clear page", async () => {
  let upstreamClosed = false;
  const handler = (_req: IncomingMessage, res: ServerResponse): void => {
    res.on("close", () => (upstreamClosed = true));
  };
  await withApp(handler, async (a, _b, port) => {
    const r = await fetchVia(port, "shop.localhost");
    assert.equal(r.status, 504);
    assert.match(r.body, /app shop did not answer in time/);
    assert.ok(r.headers["x-walk-wake"]);
    await eventually("upstream request closed", () => upstreamClosed);
    assert.equal(a.metrics().apps.shop!.refusals.upstream_timeout, 1);
  }, {}, { upstream: { headersTimeoutMs: 200 } });
});

test("a backend gone after it was ready: 502, and the next request wakes it again", async () => {
  await withApp((_req, res) => res.end("ok"), async (a, b, port) => {
    assert.equal((await fetchVia(port, "shop.localhost")).status, 200);
    await b.stop(); // the VM vanished without telling anyone
    const r = await fetchVia(port, "shop.localhost");
    assert.equal(r.status, 502);
    assert.equal(a.status("shop")?.state, "stopped");
    assert.equal((await fetchVia(port, "shop.localhost")).status, 200);
    assert.equal(b.wakes, 2);
  });
});

test("oversized request headers are refused with 431 before any wake", async () => {
  await withApp((_req, res) => res.end("ok"), async (_a, b, port) => {
    const r = await raw(port, `GET / HTTP/1.1\r\nhost: shop.localhost\r\nx-big: ${"a".repeat(20_000)}\r\n\r\n`, /\r\n\r\n/);
    assert.match(r, /^HTTP\/1\.1 431 /);
    assert.equal(b.wakes, 0);
  });
});

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** A one-frame websocket echo server side: answers the handshake, echoes text frames unmasked. */
function wsEcho(req: IncomingMessage, socket: Socket): void {
  const accept = createHash("sha1").update(`${String(req.headers["sec-websocket-key"])}${WS_GUID}`).digest("base64");
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nx-fwd: ${String(req.headers["x-forwarded-for"])}\r\n\r\n`);
  socket.on("data", (f: Buffer) => {
    const len = f[1]! & 0x7f;
    const mask = f.subarray(2, 6);
    const payload = Buffer.from(f.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4]!));
    socket.write(Buffer.concat([Buffer.from([0x81, payload.length]), payload]));
  });
}

function wsFrame(text: string): Buffer {
  const p = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  return Buffer.concat([Buffer.from([0x81, 0x80 | p.length]), mask, Buffer.from(p.map((b, i) => b ^ mask[i % 4]!))]);
}

test("a websocket works through the proxy and holds the app awake while open", async () => {
  await withApp((_req, res) => res.end("ok"), async (a, b, port) => {
    const s = connect(port, "127.0.0.1");
    const key = Buffer.from("0123456789abcdef").toString("base64");
    const received: Buffer[] = [];
    s.on("data", (c: Buffer) => received.push(c));
    s.write(`GET /ws HTTP/1.1\r\nHost: shop.localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await eventually("handshake", () => Buffer.concat(received).includes("\r\n\r\n"));
    const head = Buffer.concat(received).toString("latin1");
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.match(head, /\r\nupgrade: websocket\r\n/i);
    assert.match(head, new RegExp(`sec-websocket-accept: ${createHash("sha1").update(key + WS_GUID).digest("base64").replace(/[+/]/g, "\\$&")}`, "i"));
    assert.match(head, /x-fwd: 127\.0\.0\.1/);
    assert.match(head, /x-walk-wake: boot;dur=/);
    received.length = 0;
    s.write(wsFrame("ping"));
    await eventually("echo", () => Buffer.concat(received).length >= 6);
    assert.deepEqual(Buffer.concat(received), Buffer.from([0x81, 4, ...Buffer.from("ping")]));
    assert.equal(a.status("shop")?.openConnections, 1);
    assert.equal(a.status("shop")?.inFlight, 0);
    await sleep(400); // well past the 100 ms idle timeout
    assert.equal(b.idles, 0);
    s.destroy();
    await eventually("idle after the socket closed", () => b.idles === 1);
    assert.equal(a.status("shop")?.openConnections, 0);
  }, { limits: { idleTimeoutMs: 100, cooldownMs: 0 } }, {}, { onUpgrade: wsEcho });
});

test("an upgrade the backend declines is relayed; an upgrade to an unknown host gets 404", async () => {
  const handler = (_req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(426, { "content-type": "text/plain" });
    res.end("no upgrade here");
  };
  await withApp(handler, async (_a, _b, port) => {
    const declined = await raw(port, "GET / HTTP/1.1\r\nHost: shop.localhost\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n");
    assert.match(declined, /^HTTP\/1\.1 426 /);
    assert.match(declined, /\r\nconnection: close\r\n\r\nf\r\nno upgrade here\r\n0\r\n\r\n$/);
    const unknown = await raw(port, "GET / HTTP/1.1\r\nHost: nope.localhost\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n");
    assert.match(unknown, /^HTTP\/1\.1 404 /);
    assert.match(unknown, /no app answers to this host/);
  });
});

test("start refuses a busy listen address, and a bad route table leaves nothing listening", async () => {
  const port = await unusedPort();
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(port, "127.0.0.1", r));
  try {
    await assert.rejects(Activator.start({ listen: { port } }), (e: unknown) => isWalkError(e, "conflict") && e.message.includes(`127.0.0.1:${port} is already in use`));
  } finally {
    await new Promise<void>((r) => busy.close(() => r()));
  }
  const b = new TestBackend({ handler: (_req, res) => res.end("ok") });
  await assert.rejects(Activator.start({ listen: { port } }, [{ name: "shop", backends: [b] }, { name: "shop", backends: [b] }]), /app shop is listed twice/);
  // The listener it opened is closed again: the port can be bound.
  const again = createServer();
  await new Promise<void>((resolve, reject) => {
    again.once("error", reject);
    again.listen(port, "127.0.0.1", resolve);
  });
  await new Promise<void>((r) => again.close(() => r()));
  assert.equal(b.wakes, 0);
});
