// Seeded random exchanges through the activator between node's own HTTP client and server (an
// independent HTTP/1.1 implementation on both sides): methods, header case and repeats, bodies of
// random sizes sent with Content-Length or chunked in random pieces, responses framed by length,
// chunked or not at all, HEAD, 204 and 304, over a few keep-alive connections. Every request must
// arrive once, intact, and every response must come back intact to the request that asked for it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Agent, request, type IncomingMessage, type ServerResponse } from "node:http";
import { Activator } from "../../src/activator/index.js";
import { TestBackend } from "../../src/activator/testing.js";

/** xorshift32: the same sequence for the same seed, so a failure can be replayed. */
function prng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

function bytes(rand: (n: number) => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rand(256);
  return b;
}

const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

interface Plan {
  id: number;
  method: string;
  body: Buffer;
  chunked: boolean;
  pieces: number;
  response: { status: number; body: Buffer; framing: "length" | "chunked"; pieces: number };
}

function plan(rand: (n: number) => number, id: number): Plan {
  const method = ["GET", "POST", "PUT", "HEAD", "DELETE", "PATCH"][rand(6)]!;
  const withBody = method === "POST" || method === "PUT" || method === "PATCH";
  const size = [0, 1, 17, 1000, 70_000][rand(5)]!;
  const status = [200, 200, 200, 201, 204, 304, 404][rand(7)]!;
  const resSize = status === 204 || status === 304 ? 0 : [0, 5, 4096, 100_000][rand(4)]!;
  return {
    id,
    method,
    body: withBody ? bytes(rand, size) : Buffer.alloc(0),
    chunked: withBody && rand(2) === 0,
    pieces: 1 + rand(5),
    response: { status, body: bytes(rand, resSize), framing: rand(2) === 0 ? "length" : "chunked", pieces: 1 + rand(4) },
  };
}

function splitInto(b: Buffer, pieces: number): Buffer[] {
  const out: Buffer[] = [];
  const step = Math.max(1, Math.ceil(b.length / pieces));
  for (let i = 0; i < b.length; i += step) out.push(b.subarray(i, i + step));
  return out;
}

test("200 seeded random exchanges arrive intact both ways, each once, over keep-alive connections", async () => {
  const seed = Number(process.env.WALK_TEST_SEED ?? 20261204);
  const rand = prng(seed);
  const plans = Array.from({ length: 200 }, (_, i) => plan(rand, i));
  const seen = new Map<number, { method: string; sha: string; count: number; header: string | string[] | undefined }>();
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const p = plans[Number(req.url!.slice(1))]!;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const prev = seen.get(p.id);
      seen.set(p.id, { method: req.method!, sha: sha(Buffer.concat(chunks)), count: (prev?.count ?? 0) + 1, header: req.headers["x-multi"] });
      const r = p.response;
      if (r.framing === "length" && r.status !== 204 && r.status !== 304) res.setHeader("content-length", r.body.length);
      res.writeHead(r.status, { "x-id": String(p.id) });
      if (req.method === "HEAD" || r.status === 204 || r.status === 304) return void res.end();
      for (const piece of splitInto(r.body, r.pieces)) res.write(piece);
      res.end();
    });
  };
  const b = new TestBackend({ handler, wakeDelayMs: 0 });
  const a = await Activator.start({}, [{ name: "shop", backends: [b] }]);
  const agent = new Agent({ keepAlive: true, maxSockets: 3 });
  try {
    const results = await Promise.all(
      plans.map(
        (p) =>
          new Promise<{ status: number; sha: string; id: string | undefined }>((resolve, reject) => {
            const headers: Record<string, string | string[]> = { host: rand(2) ? "shop.localhost" : "SHOP.localhost", "x-multi": ["a", "b"] };
            if (!p.chunked && p.body.length > 0) headers["content-length"] = String(p.body.length);
            const req = request({ host: "127.0.0.1", port: a.address.port, method: p.method, path: `/${p.id}`, headers, agent }, (res) => {
              const chunks: Buffer[] = [];
              res.on("data", (c: Buffer) => chunks.push(c));
              res.on("end", () => resolve({ status: res.statusCode!, sha: sha(Buffer.concat(chunks)), id: res.headers["x-id"] as string | undefined }));
              res.on("error", reject);
            });
            req.on("error", reject);
            for (const piece of splitInto(p.body, p.pieces)) req.write(piece);
            req.end();
          }),
      ),
    );
    for (const p of plans) {
      const r = results[p.id]!;
      const got = seen.get(p.id);
      assert.deepEqual(got, { method: p.method, sha: sha(p.body), count: 1, header: "a, b" }, `request ${p.id} (${p.method}, ${p.body.length} bytes, chunked ${p.chunked}) as the app saw it`);
      const expected = p.method === "HEAD" || p.response.status === 204 || p.response.status === 304 ? Buffer.alloc(0) : p.response.body;
      assert.deepEqual(r, { status: p.response.status, sha: sha(expected), id: String(p.id) }, `response ${p.id} (seed ${seed})`);
    }
  } finally {
    agent.destroy();
    await a.close();
    await b.stop();
  }
});
