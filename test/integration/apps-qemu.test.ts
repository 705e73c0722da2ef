// Apps end to end with real guests: walkd runs inside namespace H (its taps, routes, and the
// activator on H's 127.0.0.1:8040), machines boot under QEMU TCG, and clients are node processes in
// H. Covers: 50 concurrent requests to a stopped app all succeed on one booted machine and show
// the boot in their timing headers; the idle app stops and wakes again; a deploy of a new image
// to a stopped app is served by the next request; unknown host 404; a crashing workload 502 with
// its console in walkd's log; a never-listening app 503 after the wake budget; suspend and resume
// (the resumed guest refreshed before it serves); an app on two machines (max_machines = 2,
// soft = 1): slow concurrent requests boot the second machine, both serve, and idle stops the
// extra one while min_machines keeps one. Traffic stays in H. Setup and clean-up:
// apps-qemu-fixture.ts.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { AppsQemu, appToml as toml, until } from "./apps-qemu-fixture.js";
import { servingScript } from "./machine-fixture.js";

// A counter kept in guest memory only (a tmpfs): a reboot starts it over, a restore keeps it.
const COUNTER = `#!/bin/sh
mkdir -p /tmp/srv/cgi-bin /tmp/mem && mount -t tmpfs tmpfs /tmp/mem || exit 1
printf '%s\\n' '#!/bin/sh' 'n=$(cat /tmp/mem/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/mem/n' 'printf "Content-Type: text/plain\\r\\n\\r\\n%s\\n" "$n"' > /tmp/srv/cgi-bin/count
chmod +x /tmp/srv/cgi-bin/count
echo counter ready
exec httpd -f -p 8080 -h /tmp/srv
`;

// Answers its machine's name (the guest's hostname) slowly, so that concurrent requests outlast a boot.
const WHOAMI = `#!/bin/sh
mkdir -p /tmp/srv/cgi-bin
printf '%s\\n' '#!/bin/sh' 'sleep 5' 'printf "Content-Type: text/plain\\r\\n\\r\\n%s\\n" "$(hostname)"' > /tmp/srv/cgi-bin/who
chmod +x /tmp/srv/cgi-bin/who
echo whoami ready
exec httpd -f -p 8080 -h /tmp/srv
`;

let f: AppsQemu;

before(async () => {
  f = await AppsQemu.start("ah", {
    v1: servingScript("v1"),
    v2: servingScript("v2"),
    crash: '#!/bin/sh\necho "fatal: no database configured"\nexit 3\n',
    mute: "#!/bin/sh\nexec sleep 600\n",
    counter: COUNTER,
    whoami: WHOAMI,
  });
});

after(async () => {
  await f?.close();
});

test("a stopped app: 50 concurrent cold requests succeed on one booted machine; idle stops it, a request wakes it; a new image is served after a deploy", async () => {
  const dep = await f.client.deploy({ config: toml("web", f.images.v1!, `idle_timeout = 2\nwake_timeout = 90\nhealth_check = { type = "http", path = "/" }`) });
  assert.equal(dep.rollout, "recorded");
  assert.deepEqual(await f.client.machines(true), [], "nothing boots at deploy");

  const cold = await f.get("web.localhost", 50);
  assert.deepEqual(cold.map((r) => r.status), Array(50).fill(200), JSON.stringify(cold.find((r) => r.status !== 200)));
  assert.ok(cold.every((r) => r.body === "v1"));
  assert.ok(cold.every((r) => /^boot;dur=\d/.test(r.wake ?? "")), `every cold request shows the boot: ${cold[0]!.wake}`);
  const machines = await f.client.machines(true);
  assert.equal(machines.length, 1, "one machine for 50 concurrent cold requests");
  const m = machines[0]!;
  assert.equal(m.name, "web-0-g1");

  await until("the idle app's machine stops", async () => (await f.client.machine(m.id)).state === "stopped");
  const [again] = await f.get("web.localhost");
  assert.equal(again!.status, 200);
  assert.equal(again!.body, "v1");
  assert.match(again!.wake ?? "", /^boot;/);
  assert.deepEqual((await f.client.machines(true)).map((x) => x.id), [m.id], "the same machine was started again");

  await until("the idle app's machine stops again", async () => (await f.client.machine(m.id)).state === "stopped");
  const redeploy = await f.client.deploy({ config: toml("web", f.images.v2!, `idle_timeout = 2\nwake_timeout = 90`) });
  assert.equal(redeploy.rollout, "recorded");
  assert.equal(redeploy.app.generation, 2);
  const [v2] = await f.get("web.localhost");
  assert.equal(v2!.status, 200);
  assert.equal(v2!.body, "v2", "the next request is served by the new image");
  assert.equal((await f.client.machine(m.id)).state, "destroyed", "the old generation's machine is gone");
  const logs = [];
  for await (const c of f.client.appLogs("web")) logs.push(c);
  assert.match(Buffer.concat(logs).toString("utf8"), /v2 starting/, "walk apps logs shows the app's machine's console");
});

test("unknown host 404; a crashing workload 502 with its console in walkd's log; a never-listening app 503 after the wake budget", async () => {
  const [unknown] = await f.get("nope.localhost");
  assert.equal(unknown!.status, 404);

  await f.client.deploy({ config: toml("boom", f.images.crash!, "wake_timeout = 90") });
  const [crashed] = await f.get("boom.localhost");
  assert.equal(crashed!.status, 502);
  assert.ok(!crashed!.body.includes("no database"), "the console is not in the response");
  await until("walkd logs the crashed app's console", async () => f.walkdLog.join("").includes("fatal: no database configured"));

  await f.client.deploy({ config: toml("mute", f.images.mute!, "wake_timeout = 3") });
  const [mute] = await f.get("mute.localhost");
  assert.equal(mute!.status, 503);
  assert.notEqual(mute!.retryAfter, null, "503 carries Retry-After");
});

test("autostop = suspend: a counter in guest memory survives sleep and wake (QEMU migrate to file, -incoming); a deploy invalidates the snapshot", async () => {
  const cfg = `autostop = "suspend"\nidle_timeout = 2\nwake_timeout = 90\nhealth_check = { type = "tcp" }`;
  await f.client.deploy({ config: toml("ctr", f.images.counter!, cfg) });
  const counts: string[] = [];
  for (let i = 0; i < 3; i++) {
    const [r] = await f.get("ctr.localhost", 1, "/cgi-bin/count");
    assert.equal(r!.status, 200, r!.body);
    counts.push(r!.body);
  }
  assert.deepEqual(counts, ["1", "2", "3"]);
  await until("the idle app is suspended", async () => (await f.client.app("ctr")).machines[0]?.snapshot_generation === 1);
  const m = (await f.client.app("ctr")).machines[0]!.id;
  assert.equal((await f.client.machine(m)).state, "stopped", "a suspended machine is stopped (its VMM is gone)");

  const [woke] = await f.get("ctr.localhost", 1, "/cgi-bin/count");
  assert.equal(woke!.status, 200, woke!.body);
  assert.equal(woke!.body, "4", "the in-memory counter survived the suspend");
  assert.match(woke!.wake ?? "", /^resume;dur=/);
  // The request was forwarded only after the restored guest confirmed its clock and entropy refresh.
  assert.ok(
    f.logEntries().some((l) => l.msg === "restored guest: clock set and entropy reseeded" && l.machine === m),
    "walkd logged the refresh of the restored guest",
  );

  await until("suspended again", async () => (await f.client.app("ctr")).machines[0]?.snapshot_generation === 1);
  const redeploy = await f.client.deploy({ config: toml("ctr", f.images.counter!, cfg.replace("idle_timeout = 2", "idle_timeout = 3")) });
  assert.equal(redeploy.app.machines[0]!.snapshot_generation, null, "a deploy drops the snapshot");
  const [fresh] = await f.get("ctr.localhost", 1, "/cgi-bin/count");
  assert.equal(fresh!.body, "1", "the new generation boots with fresh memory");
  assert.match(fresh!.wake ?? "", /^boot;/);
});

test("max_machines = 2, soft = 1: slow concurrent requests boot the second machine and both serve; idle stops it while min_machines keeps one", async () => {
  const cfg = `min_machines = 1\nidle_timeout = 2\nwake_timeout = 90\nconcurrency = { soft = 1, hard = 1 }\nhealth_check = { type = "tcp" }`;
  const dep = await f.client.deploy({ config: toml("pair", f.images.whoami!, cfg, "max_machines = 2") });
  assert.equal(dep.rollout, "started");
  assert.deepEqual(dep.app.machines.map((m) => [m.slot, m.name, m.state]), [[0, "pair-0-g1", "started"]]);

  const rs = await f.get("pair.localhost", 3, "/cgi-bin/who");
  assert.deepEqual(rs.map((r) => r.status), [200, 200, 200], JSON.stringify(rs));
  assert.deepEqual([...new Set(rs.map((r) => r.body))].sort(), ["pair-0-g1", "pair-1-g1"], "each machine answered with its own hostname");

  const running = async (): Promise<number> => (await f.client.app("pair")).machines.filter((m) => m.state === "started").length;
  await until("the extra machine stops when idle", async () => (await running()) === 1);
  await new Promise((r) => setTimeout(r, 4000)); // twice the idle timeout
  assert.equal(await running(), 1, "min_machines keeps one running");
  assert.equal((await f.client.app("pair")).machines.length, 2, "the stopped machine stays in its slot for the next wake");
});
