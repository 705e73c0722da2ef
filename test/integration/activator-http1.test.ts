// HTTP/1.1 through the activator's raw-socket proxy, against real loopback servers (node's own
// HTTP server, and raw TCP servers playing hostile or racing backends): pipelining, HTTP/1.0
// clients, chunked uploads, interim responses, HEAD, request smuggling attempts, responses nobody
// asked for, a retry after a pooled connection's close, and the client-side timeouts.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { Activator, type AppBackend, type ActivatorOptions } from "../../src/activator/index.js";
import { TestBackend, eventually, fetchVia, sleep } from "../../src/activator/testing.js";

/** A client connection that sends raw bytes and collects everything it reads. */
class RawClient {
  private readonly s: Socket;
  private data = Buffer.alloc(0);
  closed = false;

  constructor(port: number) {
    this.s = connect(port, "127.0.0.1");
    this.s.on("data", (c: Buffer) => (this.data = Buffer.concat([this.data, c])));
    this.s.on("close", () => (this.closed = true));
    this.s.on("error", () => undefined);
  }

  write(s: string | Buffer): void {
    this.s.write(s);
  }

  get text(): string {
    return this.data.toString("latin1");
  }

  async until(what: string, cond: (text: string) => boolean): Promise<string> {
    await eventually(what, () => cond(this.text));
    return this.text;
  }

  destroy(): void {
    this.s.destroy();
  }
}

async function withActivator(backend: AppBackend, fn: (port: number, a: Activator) => Promise<void>, opts: ActivatorOptions = {}): Promise<void> {
  const a = await Activator.start(opts, [{ name: "shop", backends: [backend] }]);
  try {
    await fn(a.address.port, a);
  } finally {
    await a.close();
  }
}

async function withNodeApp(handler: (req: IncomingMessage, res: ServerResponse) => void, fn: (port: number, a: Activator, b: TestBackend) => Promise<void>, opts: ActivatorOptions = {}): Promise<void> {
  const b = new TestBackend({ handler, wakeDelayMs: 0 });
  try {
    await withActivator(b, (port, a) => fn(port, a, b), opts);
  } finally {
    await b.stop();
  }
}

/**
 * A raw TCP backend playing the app: `onData` gets every chunk a connection sends, with the
 * connection's index among those that sent anything (readiness probes only connect, and don't count).
 */
async function rawBackend(onData: (s: Socket, index: number, chunk: Buffer) => void): Promise<{ backend: AppBackend; connections: () => number; close(): Promise<void> }> {
  let n = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    let index: number | undefined;
    sockets.add(s);
    s.on("data", (c: Buffer) => onData(s, (index ??= n++), c));
    s.on("close", () => sockets.delete(s));
    s.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    backend: { wake: async () => ({ host: "127.0.0.1", port, kind: "boot" }), idle: async () => undefined },
    connections: () => n,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** The bodies of complete responses in `text`, in order (content-length framed). */
function bodies(text: string): string[] {
  const out: string[] = [];
  let rest = text;
  for (;;) {
    const end = rest.indexOf("\r\n\r\n");
    if (end < 0) return out;
    const len = Number(/\r\ncontent-length: (\d+)/i.exec(rest.slice(0, end))?.[1] ?? 0);
    out.push(rest.slice(end + 4, end + 4 + len));
    rest = rest.slice(end + 4 + len);
  }
}

test("pipelined requests are answered in order on one connection, even when the first is slower", async () => {
  await withNodeApp(
    (req, res) => {
      const slow = req.url === "/slow";
      setTimeout(() => res.end(`answer to ${req.url}`), slow ? 150 : 0);
    },
    async (port) => {
      const c = new RawClient(port);
      c.write("GET /slow HTTP/1.1\r\nHost: shop.localhost\r\n\r\nGET /fast HTTP/1.1\r\nHost: shop.localhost\r\n\r\nGET /third HTTP/1.1\r\nHost: shop.localhost\r\n\r\n");
      await c.until("three responses", (t) => bodies(t).length === 3 && bodies(t)[2]!.length > 0);
      assert.deepEqual(bodies(c.text), ["answer to /slow", "answer to /fast", "answer to /third"]);
      assert.equal(c.closed, false);
      c.destroy();
    },
  );
});

test("an HTTP/1.0 client gets a chunked response close-delimited, and the connection closes", async () => {
  await withNodeApp(
    (_req, res) => {
      res.write("part one, ");
      setTimeout(() => res.end("part two"), 20);
    },
    async (port) => {
      const c = new RawClient(port);
      c.write("GET / HTTP/1.0\r\nHost: shop.localhost\r\n\r\n");
      await eventually("closed", () => c.closed);
      const [head, body] = c.text.split("\r\n\r\n");
      assert.match(head!, /^HTTP\/1\.1 200 OK\r\n/);
      assert.doesNotMatch(head!, /transfer-encoding/i);
      assert.match(head!, /\r\nconnection: close/i);
      assert.equal(body, "part one, part two");
    },
  );
});

test("a close-delimited response reaches an HTTP/1.1 client chunked, and the client connection stays usable", async () => {
  const raw = await rawBackend((s) => s.end("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end"));
  try {
    await withActivator(raw.backend, async (port) => {
      const c = new RawClient(port);
      c.write("GET /a HTTP/1.1\r\nHost: shop.localhost\r\n\r\n");
      const t = await c.until("the last chunk", (x) => x.endsWith("0\r\n\r\n"));
      assert.match(t, /\r\ntransfer-encoding: chunked\r\n/);
      assert.match(t, /\r\n\r\nd\r\nuntil the end\r\n0\r\n\r\n$/);
      c.write("GET /b HTTP/1.1\r\nHost: shop.localhost\r\n\r\n");
      await c.until("a second response", (x) => x.split("HTTP/1.1 200").length === 3);
      assert.equal(raw.connections(), 2);
      c.destroy();
    });
  } finally {
    await raw.close();
  }
});

test("a chunked upload is decoded and re-framed: the app gets the exact bytes, no extensions, no trailers", async () => {
  let seen: { te: string | undefined; body: string; trailers: NodeJS.Dict<string> } | undefined;
  await withNodeApp(
    (req, res) => {
      let body = "";
      req.setEncoding("latin1");
      req.on("data", (c: string) => (body += c));
      req.on("end", () => {
        seen = { te: req.headers["transfer-encoding"], body, trailers: req.trailers };
        res.end("ok");
      });
    },
    async (port) => {
      const c = new RawClient(port);
      c.write("POST /up HTTP/1.1\r\nHost: shop.localhost\r\nTransfer-Encoding: chunked\r\n\r\n");
      c.write("5;name=value\r\nhello\r\n");
      await sleep(20);
      c.write("7\r\n, world\r\n0\r\nX-Trailer: secret\r\n\r\n");
      await c.until("the response", (t) => t.endsWith("ok"));
      assert.deepEqual(seen, { te: "chunked", body: "hello, world", trailers: {} });
      c.destroy();
    },
  );
});

test("Expect: 100-continue: the app's 100 reaches the client before it sends the body; 103 hints are relayed", async () => {
  await withNodeApp(
    (req, res) => {
      if (req.url === "/hints") {
        res.writeEarlyHints({ link: "</style.css>; rel=preload" });
        res.end("hinted");
        return;
      }
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => res.end(`got ${body}`));
    },
    async (port) => {
      const c = new RawClient(port);
      c.write("POST /x HTTP/1.1\r\nHost: shop.localhost\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
      await c.until("100 Continue", (t) => t.includes("HTTP/1.1 100 Continue\r\n"));
      assert.doesNotMatch(c.text, /200/);
      c.write("body");
      await c.until("the final response", (t) => t.endsWith("got body"));
      c.write("GET /hints HTTP/1.1\r\nHost: shop.localhost\r\n\r\n");
      const t = await c.until("the hinted response", (x) => x.endsWith("hinted"));
      assert.match(t, /HTTP\/1\.1 103 Early Hints\r\nlink: <\/style\.css>; rel=preload\r\n\r\nHTTP\/1\.1 200 OK/i);
      c.destroy();
    },
  );
});

test("HEAD: the length is kept, no body follows, and the connection goes on", async () => {
  await withNodeApp(
    (_req, res) => {
      res.setHeader("content-length", "11");
      res.end("hello world");
    },
    async (port) => {
      const c = new RawClient(port);
      c.write("HEAD / HTTP/1.1\r\nHost: shop.localhost\r\n\r\nGET / HTTP/1.1\r\nHost: shop.localhost\r\n\r\n");
      const t = await c.until("both", (x) => x.endsWith("hello world"));
      const [first, second] = t.split(/(?=HTTP\/1\.1 200)/);
      assert.match(first!, /content-length: 11\r\n[\s\S]*\r\n\r\n$/i);
      assert.match(second!, /\r\n\r\nhello world$/);
      c.destroy();
    },
  );
});

const SMUGGLING: Array<[string, string, RegExp]> = [
  ["Content-Length with Transfer-Encoding", "POST / HTTP/1.1\r\nHost: shop.localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: shop.localhost\r\n\r\n", /^HTTP\/1\.1 400 /],
  ["a spaced Transfer-Encoding", "POST / HTTP/1.1\r\nHost: shop.localhost\r\nTransfer-Encoding : chunked\r\nContent-Length: 44\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: shop.localhost\r\n\r\n", /^HTTP\/1\.1 400 /],
  ["an obfuscated coding", "POST / HTTP/1.1\r\nHost: shop.localhost\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: shop.localhost\r\n\r\n", /^HTTP\/1\.1 501 /],
  ["two Content-Lengths", "POST / HTTP/1.1\r\nHost: shop.localhost\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\nGET /admin HTTP/1.1\r\nHost: shop.localhost\r\n\r\n", /^HTTP\/1\.1 400 /],
  ["a bare LF splitting a header", "GET / HTTP/1.1\r\nHost: shop.localhost\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: shop.localhost\r\n\r\n", /^HTTP\/1\.1 400 /],
  ["a malformed chunk", "POST / HTTP/1.1\r\nHost: shop.localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcGET /admin HTTP/1.1\r\nHost: shop.localhost\r\n\r\n", /^HTTP\/1\.1 400 .*\r\n\r\n400 Bad Request: chunk data must end with CRLF/s],
];

for (const [what, wire, answer] of SMUGGLING) {
  test(`request smuggling is refused and the connection closed: ${what}`, async () => {
    const paths: string[] = [];
    await withNodeApp(
      (req, res) => {
        paths.push(req.url ?? "");
        res.end("ok");
      },
      async (port, a) => {
        const c = new RawClient(port);
        c.write(wire);
        await eventually("closed by walkd", () => c.closed);
        assert.match(c.text, answer);
        assert.equal(c.text.split("HTTP/1.1").length, 2, "exactly one response");
        assert.ok(!paths.includes("/admin"), `the smuggled request reached the app: ${paths.join(",")}`);
        if (!/malformed chunk/.test(what)) assert.equal(a.metrics().unrouted.bad_request, 1);
      },
    );
  });
}

test("a refused request's unread body is never parsed as the next request", async () => {
  const paths: string[] = [];
  await withNodeApp(
    (req, res) => {
      paths.push(req.url ?? "");
      res.end("ok");
    },
    async (port) => {
      const smuggled = "GET /admin HTTP/1.1\r\nHost: shop.localhost\r\n\r\n";
      const c = new RawClient(port);
      c.write(`POST / HTTP/1.1\r\nHost: nobody.localhost\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`);
      await eventually("closed by walkd", () => c.closed);
      assert.match(c.text, /^HTTP\/1\.1 404 [\s\S]*connection: close\r\n/);
      assert.equal(c.text.split("HTTP/1.1").length, 2);
      assert.deepEqual(paths, []);
    },
  );
});

test("a response nobody asked for is dropped with its connection; the next request gets its own answer", async () => {
  let requests = 0;
  const raw = await rawBackend((s) => {
    // One request, two responses: the second is an attempt to answer the next client's request.
    if (requests++ === 0) s.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ninjected");
    else s.write("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhonest");
  });
  try {
    await withActivator(raw.backend, async (port) => {
      assert.equal((await fetchVia(port, "shop.localhost")).body, "first");
      assert.equal((await fetchVia(port, "shop.localhost")).body, "honest");
      assert.equal(raw.connections(), 2);
    });
  } finally {
    await raw.close();
  }
});

test("a pooled connection the app closes as the next request arrives: a GET is retried once on a new one, a POST gets 502", async () => {
  const served = new Set<number>();
  const raw = await rawBackend((s, i) => {
    if (served.has(i)) return void s.destroy(); // the app's keep-alive timeout fired just as the request came in
    served.add(i);
    s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  try {
    await withActivator(raw.backend, async (port, a) => {
      const c = new RawClient(port);
      c.write("GET /1 HTTP/1.1\r\nHost: shop.localhost\r\n\r\n");
      await c.until("first", (t) => t.endsWith("ok"));
      c.write("GET /2 HTTP/1.1\r\nHost: shop.localhost\r\n\r\n");
      await c.until("second", (t) => t.split("200 OK").length === 3 && t.endsWith("ok"));
      assert.equal(raw.connections(), 2);
      c.write("POST /3 HTTP/1.1\r\nHost: shop.localhost\r\nContent-Length: 1\r\n\r\nx");
      await c.until("502", (t) => /HTTP\/1\.1 502 /.test(t));
      assert.equal(raw.connections(), 2);
      assert.equal(a.metrics().apps.shop!.refusals.upstream_error, 1);
      c.destroy();
    });
  } finally {
    await raw.close();
  }
});

test("a malformed or ambiguous response from the app is a 502, logged, never relayed", async () => {
  const answers = ["HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc", "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nX-A: 1\nX-B: 2\r\nContent-Length: 0\r\n\r\n"];
  const raw = await rawBackend((s, i) => s.write(answers[i]!));
  const logged: string[] = [];
  const logger = { warn: (o: { err: string }) => logged.push(o.err) } as unknown as ActivatorOptions["logger"];
  try {
    await withActivator(
      raw.backend,
      async (port) => {
        for (let i = 0; i < answers.length; i++) {
          const r = await fetchVia(port, "shop.localhost");
          assert.equal(r.status, 502, answers[i]);
          assert.match(r.body, /app shop closed the connection or could not be reached/);
        }
        assert.equal(logged.length, 3);
        assert.match(logged[0]!, /both Transfer-Encoding and Content-Length/);
        assert.match(logged[1]!, /malformed status line/);
        assert.match(logged[2]!, /malformed header field/);
      },
      { logger },
    );
  } finally {
    await raw.close();
  }
});

test("an absolute-form request routes by its authority and reaches the app in origin form", async () => {
  await withNodeApp(
    (req, res) => res.end(`${req.url} ${req.headers.host}`),
    async (port) => {
      const c = new RawClient(port);
      c.write("GET http://shop.localhost:8040/p?q=1 HTTP/1.1\r\nHost: elsewhere.localhost\r\n\r\n");
      await c.until("answer", (t) => t.endsWith("shop.localhost:8040"));
      assert.match(c.text, /\r\n\r\n\/p\?q=1 shop\.localhost:8040$/);
      c.destroy();
    },
  );
});

test("a request head that never completes gets 408; an idle keep-alive connection is closed", async () => {
  await withNodeApp(
    (_req, res) => res.end("ok"),
    async (port, a, b) => {
      const slow = new RawClient(port);
      slow.write("GET / HTTP/1.1\r\nHost: shop");
      for (let i = 0; i < 10 && !slow.closed; i++) {
        await sleep(60);
        slow.write("x");
      }
      await eventually("closed", () => slow.closed);
      assert.match(slow.text, /^HTTP\/1\.1 408 /);
      assert.equal(b.wakes, 0);
      const idle = new RawClient(port);
      idle.write("GET / HTTP/1.1\r\nHost: shop.localhost\r\n\r\n");
      await idle.until("answer", (t) => t.endsWith("ok"));
      await eventually("closed after the keep-alive timeout", () => idle.closed);
      assert.equal(a.metrics().unrouted.bad_request, 1);
    },
    { clientHeadersTimeoutMs: 200, keepAliveTimeoutMs: 150 },
  );
});
