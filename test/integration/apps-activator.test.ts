// Apps through the real activator, with machines played by loopback servers (apps-fixture.ts):
// deploy, cold wake with timing headers, single-flight under 50 concurrent requests, idle stop and
// re-wake, a deploy that replaces a running machine, rm, and the failure pages (404, 502, 503).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { eventually, fetchVia, unusedPort } from "../../src/activator/testing.js";
import { isWalkError } from "../../src/lib/index.js";
import { startApps as setup } from "./apps-fixture.js";

test("apps: deploy, cold wake with timing headers, 50 concurrent cold requests share one machine, idle stop and wake again", async (t) => {
  const { apps, machines, toml, get } = await setup(t);
  const { app, rollout } = await apps.deploy(toml("web", "img:v1", "idle_timeout = 1"));
  assert.equal(app.generation, 1);
  assert.equal(rollout, "recorded");
  assert.equal(machines.creates, 0, "a min_machines = 0 app boots nothing at deploy");
  assert.deepEqual(apps.list().map((a) => a.name), ["web"]);

  const rs = await Promise.all(Array.from({ length: 50 }, () => get("web.localhost")));
  for (const r of rs) {
    assert.equal(r.status, 200);
    assert.equal(r.body, "v1 0");
  }
  assert.equal(machines.creates, 1);
  assert.equal(machines.starts, 1);
  assert.ok(rs.every((r) => /^boot;dur=\d/.test(String(r.headers["x-walk-wake"]))), "every cold request shows the boot it waited for");
  assert.equal(apps.inspect("web").machines[0]!.generation, 1);

  const warm = await get("web.localhost");
  assert.equal(warm.headers["x-walk-wake"], "warm");

  await eventually("the idle app's machine stops", () => machines.stops === 1, 10_000);
  assert.equal(machines.running().length, 0);
  const again = await get("web.localhost");
  assert.equal(again.status, 200);
  assert.match(String(again.headers["x-walk-wake"]), /^boot;/);
  assert.equal(machines.creates, 1, "the stopped machine is started again, not recreated");
  assert.equal(machines.starts, 2);
});

test("apps: a deploy of a new image replaces the running machine and the next request serves it; rm removes it", async (t) => {
  const { apps, machines, activator, toml, get } = await setup(t);
  await apps.deploy(toml("web", "img:v1", `autostop = false`));
  assert.equal((await get("web.localhost", "/count")).body, "v1 1");
  const first = apps.inspect("web").machines[0]!.machineId;

  const { app, rollout } = await apps.deploy(toml("web", "img:v2", `autostop = false`));
  assert.equal(rollout, "replaced");
  assert.equal(app.generation, 2);
  assert.notEqual(app.machines[0]!.machineId, first);
  assert.equal(machines.inspect(first).state, "destroyed", "the old machine is removed once the new one runs");
  // Switched by the deploy itself: no wait for the activator to notice the old machine ended.
  const newIp = machines.inspect(app.machines[0]!.machineId).net!.ip;
  await eventually("the activator serves from the new machine", () => activator.status("web")?.instances[0]?.target?.host === newIp);
  const r = await get("web.localhost", "/count");
  assert.equal(r.status, 200);
  assert.equal(r.body, "v2 1", "served by the new machine, whose state starts fresh");

  await apps.remove("web");
  assert.deepEqual(apps.list(), []);
  assert.equal(machines.inspect(app.machines[0]!.machineId).state, "destroyed");
  assert.equal((await get("web.localhost")).status, 404);
  await assert.rejects(apps.remove("web"), (e: unknown) => isWalkError(e, "not_found"));
});

test("apps: a stopped app's deploy is only recorded, and the next wake uses the new generation", async (t) => {
  const { apps, machines, toml, get } = await setup(t);
  await apps.deploy(toml("web", "img:v1", "idle_timeout = 1"));
  assert.equal((await get("web.localhost")).body, "v1 0");
  await eventually("the idle app's machine stops", () => machines.stops === 1, 10_000);
  const old = apps.inspect("web").machines[0]!.machineId;
  const { rollout } = await apps.deploy(toml("web", "img:v2", "idle_timeout = 1"));
  assert.equal(rollout, "recorded");
  const r = await get("web.localhost");
  assert.equal(r.body, "v2 0");
  assert.equal(machines.inspect(old).state, "destroyed", "the old generation's machine is removed at the wake");
});

test("apps: unknown host 404, a crashing workload 502 with its console in walkd's log, a never-listening app 503 after the wake budget", async (t) => {
  const { apps, toml, get, lines } = await setup(t);
  assert.equal((await get("nope.localhost")).status, 404);

  await apps.deploy(toml("boom", "crash:panic: cannot open database"));
  const crashed = await get("boom.localhost");
  assert.equal(crashed.status, 502);
  assert.ok(!crashed.body.includes("cannot open database"), "the machine's log is not in the response");
  await eventually("the failure is logged with the console's last lines", () => lines.some((l) => JSON.stringify(l.lastLogs ?? "").includes("panic: cannot open database")));

  await apps.deploy(toml("mute", "never", "wake_timeout = 1"));
  const mute = await get("mute.localhost");
  assert.equal(mute.status, 503);
  assert.ok(mute.headers["retry-after"] !== undefined, "503 carries Retry-After");
});

test("apps: a bad walk.toml or a hostname another app owns is refused with nothing recorded", async (t) => {
  const { apps, machines, toml, get } = await setup(t);
  await assert.rejects(apps.deploy(`name = "web"\nimage = "img:v1"\n`, "web.toml"), (e: unknown) => isWalkError(e, "invalid_argument") && /^web\.toml: services: is required/.test(e.message));
  assert.deepEqual(apps.list(), []);

  await apps.deploy(toml("a", "img:a", `hostnames = ["shop.test"]`));
  await assert.rejects(apps.deploy(toml("b", "img:b", `hostnames = ["shop.test"]`)), (e: unknown) => isWalkError(e, "conflict") && /shop\.test is already routed to app a/.test(e.message));
  await assert.rejects(apps.deploy(toml("b", "img:b", `hostnames = ["a.localhost"]`)), (e: unknown) => isWalkError(e, "conflict") && /a\.localhost is already routed to app a/.test(e.message));
  assert.deepEqual(apps.list().map((a) => a.name), ["a"]);
  assert.equal(machines.creates, 0);
  assert.equal((await get("shop.test")).body, "a 0", "the configured hostname routes to its app");
});

test("apps: autostop = suspend keeps the workload's state across sleep and wake (resume), and a deploy invalidates the snapshot", async (t) => {
  const { apps, machines, toml, get } = await setup(t);
  const cfg = `autostop = "suspend"\nidle_timeout = 1`;
  await apps.deploy(toml("ctr", "img:v1", cfg));
  for (let i = 1; i <= 3; i++) assert.equal((await get("ctr.localhost", "/count")).body, `v1 ${i}`);
  await eventually("the idle app is suspended", () => machines.suspends === 1, 10_000);
  assert.equal(apps.inspect("ctr").machines[0]!.snapshotGeneration, 1);

  const woke = await get("ctr.localhost", "/count");
  assert.equal(woke.body, "v1 4", "the counter survived the suspend");
  assert.match(String(woke.headers["x-walk-wake"]), /^resume;dur=/);
  assert.equal(machines.restores, 1);
  assert.equal(apps.inspect("ctr").machines[0]!.snapshotGeneration, null, "a snapshot is used once");

  await eventually("suspended again", () => machines.suspends === 2, 10_000);
  assert.equal(apps.inspect("ctr").machines[0]!.snapshotGeneration, 1);
  const { app } = await apps.deploy(toml("ctr", "img:v2", cfg));
  assert.equal(app.machines[0]!.snapshotGeneration, null, "the deploy dropped the snapshot");
  const fresh = await get("ctr.localhost", "/count");
  assert.equal(fresh.body, "v2 1", "the new image boots with fresh state");
  assert.match(String(fresh.headers["x-walk-wake"]), /^boot;/);
  assert.equal(machines.restores, 1, "the old snapshot was never restored");
});

test("apps: autostop = suspend takes no snapshot of a machine that fails its health check: it is stopped, and the next request boots", async (t) => {
  const { apps, machines, toml, get, lines } = await setup(t);
  await apps.deploy(toml("sick", "img:v1", `autostop = "suspend"\nidle_timeout = 1\nhealth_check = { type = "http", path = "/healthz" }`));
  assert.equal((await get("sick.localhost", "/count")).body, "v1 1");
  assert.equal((await get("sick.localhost", "/sicken")).status, 200);
  await eventually("the idle app is stopped", () => machines.stops === 1, 10_000);
  assert.equal(machines.suspends, 0, "no snapshot of an app that would wake unhealthy");
  assert.equal(apps.inspect("sick").machines[0]!.snapshotGeneration, null);
  assert.ok(lines.some((l) => String(l.msg).startsWith("the idle machine does not pass its readiness check")));
  const woke = await get("sick.localhost", "/count");
  assert.equal(woke.body, "v1 1", "a boot: fresh state");
  assert.match(String(woke.headers["x-walk-wake"]), /^boot;/);
});

test("apps: an app whose host port is taken when walkd starts is not served, and says why; the others are; a redeploy serves it once the port is free", async (t) => {
  const { apps, toml, restart, lines } = await setup(t);
  const port = await unusedPort();
  await apps.deploy(toml("a", "img:va", `host_port = ${port}`));
  await apps.deploy(toml("b", "img:vb"));
  const squatter = createServer();
  // walkd restarts while another program holds a's port.
  const again = await restart(() => new Promise<void>((r) => squatter.listen(port, "127.0.0.1", r)));
  await new Promise<void>((r) => squatter.close(() => r()));
  assert.equal((await again.get("b.localhost")).body, "vb 0", "the other apps are served");
  assert.equal((await again.get("a.localhost")).status, 404, "a is not routed at all");
  assert.match(again.apps.inspect("a").unserved ?? "", new RegExp(`127\\.0\\.0\\.1:${port} is already in use`));
  assert.equal(again.apps.inspect("b").unserved, null);
  assert.ok(lines.some((l) => l.app === "a" && String(l.msg).startsWith("app not served")), "walkd's log says which app and why");
  await again.apps.deploy(toml("b", "img:vb2"), "b.toml"); // another app's deploy is not blocked by a
  assert.notEqual(again.apps.inspect("a").unserved, null, "a stays unserved until it is redeployed");
  await again.apps.deploy(toml("a", "img:va", `host_port = ${port}`));
  assert.equal(again.apps.inspect("a").unserved, null);
  assert.equal((await fetchVia(port, undefined)).body, "va 0", "served on its host port after the redeploy");
});

test("apps: a redeploy whose new machine fails to start keeps the previous machine serving and leaves no failed machine behind", async (t) => {
  const { apps, machines, toml, get } = await setup(t);
  await apps.deploy(toml("web", "img:v1", "autostop = false"));
  assert.equal((await get("web.localhost")).body, "v1 0");
  const first = apps.inspect("web").machines[0]!.machineId;
  machines.failNextStart = "the base is missing";
  await assert.rejects(apps.deploy(toml("web", "img:v2", "autostop = false")), (e: unknown) => isWalkError(e, "unavailable") && /did not start: the base is missing; the previous machine keeps serving/.test(e.message));
  assert.equal(apps.inspect("web").machines[0]!.machineId, first);
  assert.deepEqual(machines.running().map((m) => m.view.id), [first]);
  assert.deepEqual([...machines.machines.values()].filter((m) => m.view.state === "failed"), [], "the failed machine was removed");
  assert.equal((await get("web.localhost")).body, "v1 0");
});
