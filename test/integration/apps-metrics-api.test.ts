// GET /v1/apps/{name}/metrics and GET /v1/activator through walkd's real API routes, over the real
// activator and AppService with machines played by loopback servers (apps-fixture.ts): what a cold
// request leaves in the metrics and status, unrouted requests, an unknown app, a bad name, and
// the 503 of a walkd whose activator could not listen.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HISTOGRAM_BOUNDS_MS } from "../../src/activator/index.js";
import type { ActivatorWire, AppMetricsWire } from "../../src/api/activator-schemas.js";
import { buildApi } from "../../src/api/server.js";
import type { ApiServices } from "../../src/api/services.js";
import { startApps as startWalkdApps } from "../../src/apps/daemon.js";
import type { AppService } from "../../src/apps/index.js";
import { silentLogger } from "../../src/lib/index.js";
import { openDatabase } from "../../src/store/index.js";
import { FakeMachines, startApps } from "./apps-fixture.js";

/** walkd's API over `apps` alone (the only service these routes call); `get` answers status and JSON body. */
async function apiOver(t: TestContext, apps: AppService) {
  const api = await buildApi({ apps } as Partial<ApiServices> as ApiServices, silentLogger());
  t.after(() => api.close());
  return async <T>(url: string): Promise<{ status: number; body: T }> => {
    const res = await api.inject({ method: "GET", url });
    return { status: res.statusCode, body: res.json<T>() };
  };
}

test("app metrics: a cold request is one boot wake, one request, one hold, an instance ready; every service is listed by route", async (t) => {
  const { apps, machines, activator, toml, get } = await startApps(t);
  const api = await apiOver(t, apps);
  await apps.deploy(toml("web", "img:v1", "\n[[services]]\ninternal_port = 9", "max_machines = 2"));

  assert.equal((await get("web.localhost")).status, 200);
  const { status, body } = await api<AppMetricsWire>("/v1/apps/web/metrics");
  assert.equal(status, 200);
  assert.equal(body.app, "web");
  assert.deepEqual(body.services.map((s) => s.route), ["web", "web-1"]);

  const [web, second] = body.services;
  const m = web!.metrics;
  assert.equal(m.requests, 1);
  assert.deepEqual(m.wakes, { boot: 1, resume: 0 });
  assert.equal(m.wake_failures, 0);
  assert.equal(m.wake_timeouts, 0);
  assert.equal(m.idles, 0);
  assert.deepEqual(m.refusals, { wake_failed: 0, wake_timeout: 0, queue_full: 0, queue_timeout: 0, upstream_error: 0, upstream_timeout: 0, starting_page: 0, unknown_host: 0 });
  assert.equal(m.wake_ms.boot.count, 1);
  assert.deepEqual(m.wake_ms.boot.bounds_ms, HISTOGRAM_BOUNDS_MS);
  assert.equal(m.wake_ms.boot.counts.length, HISTOGRAM_BOUNDS_MS.length + 1);
  assert.equal(m.wake_ms.boot.counts.reduce((a, b) => a + b, 0), 1, "the one wake sits in one bucket");
  assert.ok(m.wake_ms.boot.sum_ms > 0);
  assert.equal(m.wake_ms.resume.count, 0);
  assert.equal(m.hold_ms.count, 1, "the cold request was held, then forwarded");
  assert.deepEqual(m.instances, [{ requests: 1, wakes: { boot: 1, resume: 0 }, wake_failures: 0, wake_timeouts: 0, idles: 0 }]);

  const st = web!.status;
  const ip = machines.running()[0]!.view.net!.ip;
  assert.equal(st.state, "ready");
  assert.equal(st.running, 1);
  assert.equal(st.min_running, 0);
  assert.equal(st.waiting, 0);
  assert.equal(st.instances.length, 2, "one instance per machine slot");
  assert.equal(st.instances[0]!.state, "ready");
  assert.equal(st.instances[0]!.target!.host, ip);
  assert.deepEqual(st.instances[1], { state: "stopped", in_flight: 0, open_connections: 0, draining: 0, over_soft_limit: false, target: null });

  assert.equal(second!.status.state, "stopped");
  assert.equal(second!.metrics.requests, 0);
  assert.equal(second!.metrics.hold_ms.count, 0);

  const before = await api<ActivatorWire>("/v1/activator");
  assert.equal(before.status, 200);
  assert.deepEqual(before.body, { listen: activator.address, unrouted: { unknown_host: 0, bad_host: 0, bad_request: 0 } });
  assert.equal((await get("nope.localhost")).status, 404);
  assert.equal((await get("a_b.localhost")).status, 400);
  assert.deepEqual((await api<ActivatorWire>("/v1/activator")).body.unrouted, { unknown_host: 1, bad_host: 1, bad_request: 0 });
  assert.equal((await api<AppMetricsWire>("/v1/apps/web/metrics")).body.services[0]!.metrics.requests, 1, "unrouted requests are no app's");
});

test("app metrics: an unknown app is 404, a name longer than a DNS label is 400", async (t) => {
  const { apps } = await startApps(t);
  const api = await apiOver(t, apps);
  assert.deepEqual(await api("/v1/apps/nope/metrics"), { status: 404, body: { code: "not_found", error: 'no app "nope" (see `walk apps ls`)' } });
  const long = await api<{ code: string; error: string }>(`/v1/apps/${"a".repeat(64)}/metrics`);
  assert.equal(long.status, 400);
  assert.equal(long.body.code, "invalid_argument");
  assert.match(long.body.error, /params\/name must NOT have more than 63 characters/);
});

test("app metrics: a walkd whose activator could not take its default address answers 503 naming why", async (t) => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
  const port = (taken.address() as AddressInfo).port;
  const dir = await mkdtemp(join(tmpdir(), "walk-apps-"));
  const db = openDatabase(join(dir, "walk.db"));
  const walkd = await startWalkdApps({ db, machines: new FakeMachines(8080), log: silentLogger(), config: { listen: { host: "127.0.0.1", port }, configured: false }, stopTimeoutMs: 100 });
  t.after(async () => {
    await walkd.close();
    db.close();
    taken.close();
    await rm(dir, { recursive: true, force: true });
  });
  assert.equal(walkd.activatorAddress, null);
  await walkd.apps.deploy('name = "web"\nimage = "img:v1"\n[[services]]\ninternal_port = 8080\n');
  const api = await apiOver(t, walkd.apps);

  const why = `apps are not served: walkd started without its activator (activator: 127.0.0.1:${port} is already in use; choose another listen address or host port); set [activator] listen in walkd.toml and restart walkd`;
  assert.deepEqual(await api("/v1/apps/web/metrics"), { status: 503, body: { code: "unavailable", error: why } });
  assert.deepEqual(await api("/v1/activator"), { status: 503, body: { code: "unavailable", error: why } });
  assert.equal((await api("/v1/apps/nope/metrics")).status, 404, "an unknown app is still unknown");
});
