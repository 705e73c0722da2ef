// Apps on several machines through the real activator, with machines played by loopback servers
// (apps-fixture.ts): min_machines started at deploy and kept, a second machine under load that
// idles again, a replacing deploy rolled slot by slot that drains the request in flight on the old
// machine while the app keeps serving, max_machines lowered, rm, and the logs of several machines.
import { test } from "node:test";
import assert from "node:assert/strict";
import { eventually, sleep } from "../../src/activator/testing.js";
import { startApps } from "./apps-fixture.js";

async function collect(chunks: AsyncIterable<Buffer>): Promise<string> {
  const out: Buffer[] = [];
  for await (const c of chunks) out.push(c);
  return Buffer.concat(out).toString("utf8");
}

test("apps: min_machines start at deploy and are kept; load over soft starts the next slot's machine, which stops when idle", async (t) => {
  const { apps, machines, activator, toml, get } = await startApps(t);
  const { app, rollout } = await apps.deploy(toml("web", "img:v1", `min_machines = 1\nidle_timeout = 1\nconcurrency = { soft = 1, hard = 1 }`, "max_machines = 2"));
  assert.equal(rollout, "started");
  assert.deepEqual(app.machines.map((m) => [m.slot, m.name, m.state, m.generation]), [[0, "web-0-g1", "started", 1]]);
  await eventually("the activator keeps the machine up", () => activator.status("web")?.running === 1);

  const rs = [get("web.localhost", "/hold"), get("web.localhost", "/hold")];
  await eventually("both requests at a machine", () => machines.held.length === 2);
  assert.deepEqual(machines.held.map((h) => h.machine).sort(), ["web-0-g1", "web-1-g1"], "the second request started slot 1's machine");
  for (const h of machines.held.splice(0)) h.release();
  assert.deepEqual((await Promise.all(rs)).map((r) => r.status), [200, 200]);
  assert.deepEqual(apps.inspect("web").machines.map((m) => [m.name, m.state]), [["web-0-g1", "started"], ["web-1-g1", "started"]]);

  await eventually("one machine stops when idle", () => machines.stops === 1, 15_000);
  await sleep(1500); // more than another idle timeout
  assert.equal(machines.running().length, 1, "min_machines keeps one running");
  assert.equal(machines.stops, 1);
  assert.equal((await get("web.localhost")).status, 200);
});

test("apps: a replacing deploy goes slot by slot, drains the old machine's request in flight, and the app serves throughout", async (t) => {
  const { apps, machines, activator, toml, get } = await startApps(t, { stopTimeoutMs: 30_000 });
  const cfg = `min_machines = 2\nautostop = false\nconcurrency = { soft = 1, hard = 4 }`;
  await apps.deploy(toml("web", "img:v1", cfg, "max_machines = 2"));
  await eventually("both machines up in the activator", () => activator.status("web")?.running === 2);
  const old = apps.inspect("web").machines.map((m) => m.machineId);

  const slow = get("web.localhost", "/hold");
  await eventually("a request on slot 0's machine", () => machines.held.length === 1);
  assert.equal(machines.held[0]!.machine, "web-0-g1");
  const deploying = apps.deploy(toml("web", "img:v2", cfg, "max_machines = 2"));
  await eventually("slot 0's new machine runs", () => machines.running().some((m) => m.view.name === "web-0-g2"));
  for (let i = 0; i < 5; i++) assert.equal((await get("web.localhost")).status, 200, "served during the rollout");
  assert.equal(machines.inspect(old[0]!).state, "started", "the old machine waits for its request in flight");
  assert.ok(machines.running().every((m) => m.view.name !== "web-1-g2"), "slot 1 waits for slot 0");

  machines.held[0]!.release();
  assert.equal((await slow).body, "v1 web-0-g1", "the request in flight finished on the old machine");
  const { app, rollout } = await deploying;
  assert.equal(rollout, "replaced");
  assert.deepEqual(app.machines.map((m) => [m.name, m.state, m.generation]), [["web-0-g2", "started", 2], ["web-1-g2", "started", 2]]);
  for (const id of old) assert.equal(machines.inspect(id).state, "destroyed");
  assert.equal((await get("web.localhost")).body, "v2 0");
});

test("apps: lowering max_machines removes the extra slots' machines; rm removes every machine", async (t) => {
  const { apps, machines, activator, toml } = await startApps(t);
  await apps.deploy(toml("web", "img:v1", "min_machines = 3", "max_machines = 3"));
  const three = apps.inspect("web").machines.map((m) => m.machineId);
  assert.equal(three.length, 3);

  const { app } = await apps.deploy(toml("web", "img:v1", "min_machines = 1", "max_machines = 1"));
  assert.deepEqual(app.machines.map((m) => m.name), ["web-0-g2"]);
  for (const id of three) assert.equal(machines.inspect(id).state, "destroyed");
  assert.equal(activator.status("web")?.instances.length, 1);

  await apps.remove("web");
  assert.deepEqual(machines.running(), []);
  assert.equal(machines.inspect(app.machines[0]!.machineId).state, "destroyed");
});

test("apps: the logs of several machines come prefixed with each machine's name; one slot's come as they are", async (t) => {
  const { apps, toml } = await startApps(t);
  await apps.deploy(toml("web", "img:v1", "min_machines = 2", "max_machines = 2"));
  assert.equal(await collect(apps.logs("web")), "web-0-g1 | v1 on web-0-g1\nweb-1-g1 | v1 on web-1-g1\n");
  assert.equal(await collect(apps.logs("web", { slot: 1 })), "v1 on web-1-g1\n");
  assert.throws(() => apps.logs("web", { slot: 5 }), /app web has no machine in slot 5/);
});
