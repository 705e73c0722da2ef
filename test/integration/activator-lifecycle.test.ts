// The activator's wake/idle lifecycle against real loopback HTTP servers standing in for VMs:
// cold start, single-flight, idle and re-wake, budgets, queue and concurrency limits, failures.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { connect } from "node:net";
import { pino } from "pino";
import type { Logger } from "../../src/lib/index.js";
import { Activator, type AppLimits, type AppRoute, type ActivatorOptions } from "../../src/activator/index.js";
import { TestBackend, eventually, fetchVia, sleep, type TestBackendOptions } from "../../src/activator/testing.js";

const hello = (_req: IncomingMessage, res: ServerResponse): void => {
  res.end("hello");
};

async function withApp(backendOpts: Partial<TestBackendOptions>, limits: Partial<AppLimits>, fn: (a: Activator, b: TestBackend, port: number) => Promise<void>, extra: Partial<AppRoute> = {}, opts: ActivatorOptions = {}): Promise<void> {
  const b = new TestBackend({ handler: hello, ...backendOpts });
  const a = await Activator.start(opts, [{ name: "shop", backends: [b], limits, ...extra }]);
  try {
    await fn(a, b, a.address.port);
  } finally {
    await a.close();
    await b.stop();
  }
}

test("the first request to a stopped backend wakes it, succeeds and carries timing headers", async () => {
  await withApp({ wakeDelayMs: 150 }, {}, async (a, b, port) => {
    assert.equal(a.status("shop")?.state, "stopped");
    const r = await fetchVia(port, "shop.localhost");
    assert.equal(r.status, 200);
    assert.equal(r.body, "hello");
    assert.match(String(r.headers["x-walk-wake"]), /^boot;dur=\d+\.\d$/);
    assert.match(String(r.headers["x-walk-ready-ms"]), /^\d+\.\d$/);
    assert.match(String(r.headers["server-timing"]), /^walk-wake;desc=boot;dur=\d+\.\d, walk-hold;dur=\d+\.\d$/);
    assert.equal(b.wakes, 1);
    assert.equal(a.status("shop")?.state, "ready");
    const warm = await fetchVia(port, "shop.localhost");
    assert.equal(warm.headers["x-walk-wake"], "warm");
    assert.equal(b.wakes, 1);
    const m = a.metrics().apps.shop!;
    assert.equal(m.requests, 2);
    assert.equal(m.wakes.boot, 1);
    assert.equal(m.wakeMs.boot.count, 1);
    assert.equal(m.holdMs.count, 2);
  });
});

test("50 concurrent requests during a cold start all succeed with exactly one wake", async () => {
  await withApp({ wakeDelayMs: 300 }, {}, async (a, b, port) => {
    const rs = await Promise.all(Array.from({ length: 50 }, () => fetchVia(port, "shop.localhost")));
    assert.deepEqual(new Set(rs.map((r) => r.status)), new Set([200]));
    assert.equal(rs.filter((r) => String(r.headers["x-walk-wake"]).startsWith("boot;")).length, 50);
    assert.equal(b.wakes, 1);
    assert.equal(a.metrics().apps.shop!.wakes.boot, 1);
  });
});

test("an idle backend gets its idle action after the timeout, and the next request wakes it again", async () => {
  await withApp({ wakeDelayMs: 20 }, { idleTimeoutMs: 150, cooldownMs: 0 }, async (a, b, port) => {
    assert.equal((await fetchVia(port, "shop.localhost")).status, 200);
    await eventually("idle action", () => b.idles === 1);
    await eventually("stopped state", () => a.status("shop")?.state === "stopped");
    assert.equal(b.running, false);
    const r = await fetchVia(port, "shop.localhost");
    assert.equal(r.status, 200);
    assert.match(String(r.headers["x-walk-wake"]), /^resume;dur=/);
    assert.equal(b.wakes, 2);
    assert.equal(b.maxOverlap, 1);
    assert.equal(a.metrics().apps.shop!.idles, 1);
  });
});

test("idle time only counts after the post-start cooldown", async () => {
  await withApp({ wakeDelayMs: 0 }, { idleTimeoutMs: 50, cooldownMs: 2000 }, async (a, b, port) => {
    await fetchVia(port, "shop.localhost");
    // Well past the idle timeout but inside the cooldown: still running.
    await sleep(300);
    assert.equal(b.idles, 0);
    assert.equal(a.status("shop")?.state, "ready");
    await eventually("idle after the cooldown", () => b.idles === 1);
  });
});

test("a request arriving during the idle action waits for it, then wakes the backend again", async () => {
  await withApp({ wakeDelayMs: 20, idleDelayMs: 400 }, { idleTimeoutMs: 100, cooldownMs: 0 }, async (a, b, port) => {
    await fetchVia(port, "shop.localhost");
    await eventually("idling", () => a.status("shop")?.state === "idling");
    const r = await fetchVia(port, "shop.localhost");
    assert.equal(r.status, 200);
    assert.equal(b.idles, 1);
    assert.equal(b.wakes, 2);
    assert.equal(b.maxOverlap, 1);
  });
});

test("a backend that never listens: 503 with Retry-After after the wake budget, then it is idled", async () => {
  await withApp({ neverListen: true, wakeDelayMs: 10 }, { wakeBudgetMs: 300 }, async (a, b, port) => {
    const rs = await Promise.all([fetchVia(port, "shop.localhost"), fetchVia(port, "shop.localhost")]);
    for (const r of rs) {
      assert.equal(r.status, 503);
      assert.equal(r.headers["retry-after"], "7");
      assert.match(r.body, /did not become ready in time/);
      assert.equal(r.headers["x-walk-wake"], "none");
      assert.match(String(r.headers["x-walk-ready-ms"]), /^\d+\.\d$/);
    }
    assert.equal(b.wakes, 1);
    await eventually("cleanup idle", () => b.idles === 1 && a.status("shop")?.state === "stopped");
    const m = a.metrics().apps.shop!;
    assert.equal(m.wakeTimeouts, 1);
    assert.equal(m.refusals.wake_timeout, 2);
  }, {}, { retryAfterSeconds: 7 });
});

test("beyond the queue limit a request gets 503 at once; the queued ones succeed", async () => {
  await withApp({ wakeDelayMs: 400 }, { queueLimit: 2 }, async (a, b, port) => {
    const queued = [fetchVia(port, "shop.localhost"), fetchVia(port, "shop.localhost")];
    await eventually("two waiting", () => a.status("shop")?.waiting === 2);
    const over = await fetchVia(port, "shop.localhost");
    assert.equal(over.status, 503);
    assert.match(over.body, /too many requests are waiting/);
    assert.ok(over.headers["retry-after"]);
    assert.equal(a.status("shop")?.state, "waking");
    for (const r of await Promise.all(queued)) assert.equal(r.status, 200);
    assert.equal(b.wakes, 1);
    assert.equal(a.metrics().apps.shop!.refusals.queue_full, 1);
  });
});

test("hard concurrency: requests beyond it queue and are served in turn; soft limit is reported", async () => {
  let active = 0;
  let maxActive = 0;
  const releases: Array<() => void> = [];
  const handler = (_req: IncomingMessage, res: ServerResponse): void => {
    active++;
    maxActive = Math.max(maxActive, active);
    releases.push(() => {
      active--;
      res.end("done");
    });
  };
  await withApp({ handler, wakeDelayMs: 0 }, { hardConcurrency: 2, softConcurrency: 1 }, async (a, _b, port) => {
    const all = Array.from({ length: 5 }, () => fetchVia(port, "shop.localhost"));
    await eventually("two at the backend, three waiting", () => active === 2 && a.status("shop")?.waiting === 3);
    const s = a.status("shop")!;
    assert.equal(s.inFlight, 2);
    assert.equal(s.overSoftLimit, true);
    for (let released = 0; released < 5; released++) {
      await eventually("a request at the backend", () => releases.length > 0);
      releases.shift()!();
    }
    for (const r of await Promise.all(all)) assert.equal(r.status, 200);
    assert.equal(maxActive, 2);
  });
});

test("a request waiting for a concurrency slot longer than queueTimeoutMs gets 503", async () => {
  let release: (() => void) | undefined;
  const handler = (_req: IncomingMessage, res: ServerResponse): void => {
    release = () => res.end("x");
  };
  await withApp({ handler, wakeDelayMs: 0 }, { hardConcurrency: 1, queueTimeoutMs: 200 }, async (a, _b, port) => {
    const first = fetchVia(port, "shop.localhost");
    await eventually("first at the backend", () => release !== undefined);
    const second = await fetchVia(port, "shop.localhost");
    assert.equal(second.status, 503);
    assert.match(second.body, /concurrency limit/);
    assert.equal(a.status("shop")?.waiting, 0);
    release!();
    assert.equal((await first).status, 200);
  });
});

function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino({ level: "info" }, { write: (s: string) => void lines.push(s) });
  return { logger, lines };
}

test("a backend that fails to start: 502, its last log lines go to walkd's log, not the body", async () => {
  const { logger, lines } = captureLogger();
  const secret = "panic: SECRET_TOKEN=abc123 not set";
  await withApp({ failWake: new Error("VM exited with status 1"), logs: ["booting", secret] }, {}, async (a, b, port) => {
    const r = await fetchVia(port, "shop.localhost");
    assert.equal(r.status, 502);
    assert.match(r.body, /app shop failed to start/);
    assert.doesNotMatch(r.body, /SECRET|panic|status 1/);
    assert.equal(b.logReads, 1);
    const logged = lines.join("");
    assert.match(logged, /backend failed to start/);
    assert.match(logged, /SECRET_TOKEN=abc123/);
    assert.match(logged, /VM exited with status 1/);
    assert.equal(a.status("shop")?.state, "stopped");
    assert.equal(a.metrics().apps.shop!.wakeFailures, 1);
    assert.equal(a.metrics().apps.shop!.refusals.wake_failed, 1);
  }, {}, { logger });
});

test("a backend that ends while starting gives 502 at once, not a wait for the budget", async () => {
  const { logger, lines } = captureLogger();
  await withApp({ endWithoutListening: 100, logs: ["segfault"] }, { wakeBudgetMs: 60_000 }, async (a, b, port) => {
    const r = await fetchVia(port, "shop.localhost");
    assert.equal(r.status, 502);
    assert.equal(b.logReads, 1);
    assert.match(lines.join(""), /ended before it was ready/);
    assert.equal(a.metrics().apps.shop!.wakeTimeouts, 0);
  }, {}, { logger });
});

test("an HTTP health check gates traffic until it returns 2xx", async () => {
  let healthy = false;
  let healthChecks = 0;
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.url === "/healthz") {
      healthChecks++;
      res.statusCode = healthy ? 204 : 500;
      res.end();
      return;
    }
    res.end(healthy ? "ready" : "NOT READY");
  };
  await withApp({ handler, wakeDelayMs: 0 }, {}, async (_a, _b, port) => {
    const pending = fetchVia(port, "shop.localhost");
    await eventually("failing health checks", () => healthChecks >= 2);
    healthy = true;
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal(r.body, "ready");
  }, { healthCheck: { type: "http", path: "/healthz" } });
});

test("browsers get the auto-refreshing starting page during a long wake; API clients keep waiting", async () => {
  await withApp({ wakeDelayMs: 700 }, {}, async (a, b, port) => {
    const api = fetchVia(port, "shop.localhost", { headers: { accept: "application/json" } });
    const page = await fetchVia(port, "shop.localhost", { headers: { accept: "text/html,application/xhtml+xml" } });
    assert.equal(page.status, 503);
    assert.match(String(page.headers["content-type"]), /^text\/html/);
    assert.equal(page.headers["retry-after"], "2");
    assert.match(page.body, /<meta http-equiv="refresh" content="2">/);
    assert.match(page.body, /Starting shop/);
    const r = await api;
    assert.equal(r.status, 200);
    assert.equal(b.wakes, 1);
    assert.equal(a.metrics().apps.shop!.refusals.starting_page, 1);
    const post = await fetchVia(port, "shop.localhost", { method: "POST", headers: { accept: "text/html" } });
    assert.equal(post.status, 200);
  }, {}, { startingPage: { afterMs: 100, refreshSeconds: 2 } });
});

test("bad limits are refused with the knob named, and the activator keeps its previous table", async () => {
  const b = new TestBackend({ handler: hello });
  const a = await Activator.start({}, [{ name: "shop", backends: [b] }]);
  try {
    await assert.rejects(a.upsertApp({ name: "blog", backends: [b], limits: { hardConcurrency: 0 } }), /app blog: limit hardConcurrency must be a positive number/);
    await assert.rejects(a.upsertApp({ name: "blog", backends: [b], limits: { idleTimeoutMs: -1 } }), /idleTimeoutMs must be positive or null/);
    await assert.rejects(a.upsertApp({ name: "blog", backends: [b], healthCheck: { type: "http", path: "healthz" } }), /health check path "healthz" must start with '\/'/);
    assert.equal(a.status("blog"), undefined);
    assert.equal((await fetchVia(a.address.port, "shop.localhost")).status, 200);
  } finally {
    await a.close();
    await b.stop();
  }
});

test("a client that leaves while queued drops out of the queue and is never forwarded", async () => {
  let seen = 0;
  let release: (() => void) | undefined;
  const handler = (_req: IncomingMessage, res: ServerResponse): void => {
    seen++;
    if (seen === 1) release = () => res.end("first");
    else res.end("later");
  };
  await withApp({ handler, wakeDelayMs: 0 }, { hardConcurrency: 1 }, async (a, _b, port) => {
    const first = fetchVia(port, "shop.localhost");
    await eventually("first at the backend", () => release !== undefined);
    const leaver = connect(port, "127.0.0.1");
    leaver.on("error", () => undefined);
    leaver.write("GET / HTTP/1.1\r\nHost: shop.localhost\r\n\r\n");
    await eventually("the leaver queued", () => a.status("shop")?.waiting === 1);
    leaver.destroy();
    await eventually("the queue emptied", () => a.status("shop")?.waiting === 0);
    release!();
    assert.equal((await first).body, "first");
    assert.equal((await fetchVia(port, "shop.localhost")).body, "later");
    assert.equal(seen, 2);
  });
});
