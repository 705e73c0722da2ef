// The activator with several instances per app, against real loopback HTTP servers standing in
// for machines: placement below the soft limit, scale-out when every ready instance is at it,
// queueing at the hard limit of every instance (in arrival order), minRunning kept and never
// idled, single-flight wakes, one instance crashing or failing while another serves, rewake with
// draining, and instances that leave the route. Behaviour only: no timing is asserted.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Activator, type AppBackend, type AppLimits } from "../../src/activator/index.js";
import { TestBackend, eventually, fetchVia, sleep, type Fetched, type TestBackendOptions } from "../../src/activator/testing.js";

interface Held {
  from: string;
  path: string;
  release(): void;
}

/** Backends named b0, b1, …: `/hold/...` waits until released (recorded in `held`), anything else answers the name at once. */
function backends(n: number, opts: Partial<TestBackendOptions> = {}, names = Array.from({ length: n }, (_, i) => `b${i}`)): { bs: TestBackend[]; held: Held[] } {
  const held: Held[] = [];
  const bs = names.map(
    (name) =>
      new TestBackend({
        wakeDelayMs: 20,
        ...opts,
        handler: (req: IncomingMessage, res: ServerResponse) => {
          if (req.url?.startsWith("/hold")) held.push({ from: name, path: req.url, release: () => res.end(name) });
          else res.end(name);
        },
      }),
  );
  return { bs, held };
}

async function withApp(bs: AppBackend[], limits: Partial<AppLimits>, fn: (a: Activator, get: (path?: string) => Promise<Fetched>) => Promise<void>): Promise<void> {
  const a = await Activator.start({}, [{ name: "shop", backends: bs, limits }]);
  try {
    await fn(a, (path = "/") => fetchVia(a.address.port, "shop.localhost", { path }));
    // A wake still running would start its server after the backends stop.
    await eventually("no wake in progress", () => !states(a).includes("waking"));
  } finally {
    await a.close();
    for (const b of bs) if (b instanceof TestBackend) await b.stop();
  }
}

const states = (a: Activator): string[] => a.status("shop")!.instances.map((i) => i.state);

test("requests go to the lowest instance while it is below soft; the other instances never wake", async () => {
  const { bs } = backends(3);
  await withApp(bs, { softConcurrency: 2, hardConcurrency: 4 }, async (a, get) => {
    for (let i = 0; i < 5; i++) assert.equal((await get()).body, "b0");
    assert.deepEqual(bs.map((b) => b.wakes), [1, 0, 0]);
    assert.deepEqual(states(a), ["ready", "stopped", "stopped"]);
    assert.equal(a.status("shop")!.running, 1);
  });
});

test("scale-out: with every ready instance at soft the next one wakes, the request goes below hard meanwhile, then the least-loaded takes it", async () => {
  const { bs, held } = backends(3);
  await withApp(bs, { softConcurrency: 1, hardConcurrency: 2 }, async (a, get) => {
    const rs = [get("/hold/1")];
    await eventually("r1 at b0", () => held.length === 1);
    rs.push(get("/hold/2"));
    await eventually("r2 at a backend", () => held.length === 2);
    assert.equal(held[1]!.from, "b0", "instance 0 is below hard while instance 1 wakes");
    assert.equal(bs[1]!.wakes, 1, "instance 1 was woken");
    await eventually("instance 1 ready", () => states(a)[1] === "ready");
    rs.push(get("/hold/3"));
    await eventually("r3 at a backend", () => held.length === 3);
    assert.equal(held[2]!.from, "b1", "the least-loaded instance below soft");
    rs.push(get("/hold/4"));
    await eventually("r4 at a backend", () => held.length === 4);
    assert.equal(held[3]!.from, "b1", "below hard while instance 2 wakes");
    await eventually("instance 2 woken", () => bs[2]!.wakes === 1);

    const s = a.status("shop")!;
    assert.equal(s.inFlight, 4);
    assert.equal(s.overSoftLimit, true);
    assert.deepEqual(s.instances.slice(0, 2).map((i) => [i.inFlight, i.overSoftLimit]), [[2, true], [2, true]]);
    assert.ok(s.instances[0]!.target !== undefined && s.instances[0]!.target.port !== s.instances[1]!.target?.port);

    for (const h of held) h.release();
    assert.deepEqual((await Promise.all(rs)).map((r) => r.status), [200, 200, 200, 200]);
    const m = a.metrics().apps.shop!;
    assert.deepEqual(m.instances.slice(0, 2).map((i) => i.requests), [2, 2]);
    assert.equal(m.wakes.boot, m.instances.reduce((n, i) => n + i.wakes.boot, 0), "the app's total is the sum of its instances");
    assert.ok(bs.every((b) => b.maxOverlap === 1));
  });
});

test("beyond hard on every instance requests queue and get places in arrival order", async () => {
  const { bs, held } = backends(2);
  await withApp(bs, { softConcurrency: 1, hardConcurrency: 1 }, async (a, get) => {
    const rs = [get("/hold/1")];
    await eventually("r1 at b0", () => held.length === 1);
    rs.push(get("/hold/2"));
    await eventually("r2 at b1 once it woke", () => held.length === 2);
    assert.equal(held[1]!.from, "b1");
    rs.push(get("/hold/3"));
    await eventually("r3 waits", () => a.status("shop")!.waiting === 1);
    rs.push(get("/hold/4"));
    await eventually("r4 waits", () => a.status("shop")!.waiting === 2);
    held[1]!.release();
    await eventually("r3 took the freed place", () => held.length === 3);
    assert.deepEqual([held[2]!.from, held[2]!.path], ["b1", "/hold/3"]);
    held[0]!.release();
    await eventually("r4 took the next one", () => held.length === 4);
    assert.deepEqual([held[3]!.from, held[3]!.path], ["b0", "/hold/4"]);
    held[2]!.release();
    held[3]!.release();
    assert.deepEqual((await Promise.all(rs)).map((r) => r.body), ["b0", "b1", "b1", "b0"]);
    assert.equal(a.status("shop")!.waiting, 0);
  });
});

test("50 concurrent cold requests wake instance 0 once; a burst over soft wakes one more instance, one wake at a time", async () => {
  const cold = backends(3, { wakeDelayMs: 200 });
  await withApp(cold.bs, { softConcurrency: 50 }, async (_a, get) => {
    const rs = await Promise.all(Array.from({ length: 50 }, () => get()));
    assert.ok(rs.every((r) => r.status === 200 && r.body === "b0"));
    assert.deepEqual(cold.bs.map((b) => b.wakes), [1, 0, 0]);
  });
  const burst = backends(3, { wakeDelayMs: 200 });
  await withApp(burst.bs, { softConcurrency: 5 }, async (_a, get) => {
    const rs = await Promise.all(Array.from({ length: 50 }, () => get()));
    assert.ok(rs.every((r) => r.status === 200));
    assert.equal(burst.bs[0]!.wakes, 1);
    assert.equal(burst.bs[1]!.wakes, 1, "all at soft once instance 0 was ready: instance 1 woke");
    assert.ok(burst.bs.every((b) => b.wakes <= 1 && b.maxOverlap <= 1));
  });
});

test("minRunning: instances are woken without a request, an extra one idles, the kept one never does, and one that ends is replaced", async () => {
  const { bs, held } = backends(2);
  await withApp(bs, { softConcurrency: 1, hardConcurrency: 1, minRunning: 1, idleTimeoutMs: 100, cooldownMs: 0 }, async (a, get) => {
    await eventually("instance 0 kept up without a request", () => a.status("shop")!.running === 1);
    assert.equal(bs[0]!.wakes, 1);
    const rs = [get("/hold/1"), get("/hold/2")];
    await eventually("both at a backend", () => held.length === 2);
    assert.deepEqual(held.map((h) => h.from).sort(), ["b0", "b1"]);
    for (const h of held) h.release();
    await Promise.all(rs);
    await eventually("one instance idled", () => bs[0]!.idles + bs[1]!.idles === 1 && a.status("shop")!.running === 1);
    await sleep(500); // many idle timeouts later
    assert.equal(bs[0]!.idles + bs[1]!.idles, 1, "the last running instance is never idled");
    assert.equal(a.status("shop")!.running, 1);

    const kept = bs.find((b) => b.running)!;
    await kept.crash();
    await eventually("an instance is running again", () => a.status("shop")!.running === 1, 15_000);
    assert.equal((await get()).status, 200);
  });
});

test("one instance crashing or failing to wake while another serves: its requests go to the other, none fails", async () => {
  const { bs, held } = backends(2);
  await withApp(bs, { softConcurrency: 1, hardConcurrency: 1 }, async (a, get) => {
    const rs = [get("/hold/1"), get("/hold/2")];
    await eventually("both at a backend", () => held.length === 2);
    for (const h of held.splice(0)) h.release();
    await Promise.all(rs);
    await bs[1]!.crash();
    await eventually("instance 1 marked stopped", () => states(a)[1] === "stopped");
    for (let i = 0; i < 3; i++) assert.equal((await get()).body, "b0");
    const again = [get("/hold/3"), get("/hold/4")];
    await eventually("both at a backend", () => held.length === 2);
    for (const h of held.splice(0)) h.release();
    assert.deepEqual((await Promise.all(again)).map((r) => r.status), [200, 200]);
    assert.equal(bs[1]!.wakes, 2, "woken again when needed");
  });

  const failing = backends(2);
  const b1 = new TestBackend({ handler: (_q, r) => r.end("never"), failWake: new Error("no such image") });
  await withApp([failing.bs[0]!, b1], { softConcurrency: 1, hardConcurrency: 1 }, async (a, get) => {
    const first = get("/hold/1");
    await eventually("r1 at b0", () => failing.held.length === 1);
    const second = get("/");
    await eventually("the scale-out wake failed", () => (a.metrics().apps.shop!.instances[1]?.wakeFailures ?? 0) >= 1);
    failing.held[0]!.release();
    assert.equal((await first).status, 200);
    const r = await second;
    assert.equal(r.status, 200, "served by instance 0, not failed by instance 1's wake");
    assert.equal(r.body, "b0");
    assert.equal(a.metrics().apps.shop!.refusals.wake_failed, undefined);
  });
});

test("rewake: the old target drains (its request finishes), new requests reach the new one, drained() says when", async () => {
  const { bs, held } = backends(2, {}, ["old", "new"]);
  let current = bs[0]!;
  const moving: AppBackend = { wake: (s) => current.wake(s), idle: () => current.idle() };
  await withApp([moving], {}, async (a, get) => {
    const inFlight = get("/hold/1");
    await eventually("a request on the old target", () => held.length === 1);
    current = bs[1]!;
    a.rewake("shop", 0);
    const drained = a.drained("shop", 30_000);
    assert.equal((await get()).body, "new");
    assert.equal(a.status("shop")!.instances[0]!.draining, 1);
    held[0]!.release();
    assert.equal((await inFlight).body, "old", "the request in flight finished on the old target");
    assert.equal(await drained, true);
    assert.equal(bs[0]!.idles, 0, "the activator leaves the old target to its owner");

    const slow = get("/hold/2");
    await eventually("a request on the new target", () => held.length === 2);
    current = bs[0]!;
    a.rewake("shop", 0);
    assert.equal(await a.drained("shop", 100), false, "the drain gives up after its timeout");
    held[1]!.release();
    assert.equal((await slow).status, 200);
    assert.equal(await a.drained("shop", 5_000), true);
    assert.throws(() => a.rewake("shop", 1), /app shop has no instance 1/);
  });
  for (const b of bs) await b.stop();
});

test("instances that leave the route drain and are never idled by the activator", async () => {
  const { bs, held } = backends(2);
  await withApp(bs, { softConcurrency: 1, hardConcurrency: 1, idleTimeoutMs: 50, cooldownMs: 0 }, async (a, get) => {
    const rs = [get("/hold/1"), get("/hold/2")];
    await eventually("both at a backend", () => held.length === 2);
    await a.setRoutes([{ name: "shop", backends: [bs[0]!], limits: { softConcurrency: 1, hardConcurrency: 1, idleTimeoutMs: 50, cooldownMs: 0 } }]);
    assert.equal(a.status("shop")!.instances.length, 1);
    const drained = a.drained("shop", 30_000);
    for (const h of held) h.release();
    assert.deepEqual((await Promise.all(rs)).map((r) => r.status), [200, 200]);
    assert.equal(await drained, true);
    await eventually("instance 0 idles", () => bs[0]!.idles === 1);
    assert.equal(bs[1]!.idles, 0);
  });
});

test("bad instance lists and minRunning are refused, naming the app", async () => {
  const { bs } = backends(2);
  await assert.rejects(Activator.start({}, [{ name: "shop", backends: [] }]), /app shop: backends must list at least one backend/);
  await assert.rejects(Activator.start({}, [{ name: "shop", backends: bs, limits: { minRunning: 3 } }]), /app shop: limit minRunning must be an integer from 0 to the number of backends \(2\), got 3/);
  await assert.rejects(Activator.start({}, [{ name: "shop", backends: bs, limits: { minRunning: 0.5 } }]), /limit minRunning must be an integer/);
});
