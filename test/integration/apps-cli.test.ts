// `walk deploy` and `walk apps ls|inspect|rm|logs [--machine]|metrics` end to end: the real CLI binary and a real walkd
// (its MachineService, the /v1/apps API and the apps table). Apps here have min_machines = 0, so a
// deploy only records them and nothing boots.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestDaemon } from "../harness/daemon.js";
import { runCli } from "../harness/cli.js";
import { fetchVia } from "../../src/activator/testing.js";
import type { AppWire, DeployResultWire } from "../../src/api/app-schemas.js";

test("walk deploy, apps ls/inspect/logs/rm, a redeploy bumps the generation, bad files are refused with nothing recorded", async (t) => {
  const d = await startTestDaemon();
  t.after(() => d.close());
  const walk = (...args: string[]) => runCli(d.daemon.socketPath, args);
  const file = join(d.dir, "walk.toml");
  const toml = (image: string) => `name = "shop"\nimage = "${image}"\nenv = { MODE = "prod" }\n[[services]]\ninternal_port = 8080\nhostnames = ["shop.test"]\nautostop = "suspend"\nidle_timeout = 60\nconcurrency = { soft = 4, hard = 8 }\nhealth_check = { type = "http", path = "/healthz" }\n`;
  await writeFile(file, toml("busybox:1"));

  const dep = await walk("deploy", "-f", file, "--json");
  assert.equal(dep.code, 0, dep.stderr);
  const res = JSON.parse(dep.stdout) as DeployResultWire;
  assert.equal(res.rollout, "recorded");
  assert.equal(res.app.generation, 1);
  assert.deepEqual(res.app.env, ["MODE=prod"]);
  assert.deepEqual(res.app.services[0]!.health_check, { type: "http", path: "/healthz" });
  assert.deepEqual(res.app.machines, []);
  assert.equal(res.app.max_machines, 1);

  await writeFile(file, toml("busybox:2"));
  const again = await walk("deploy", "-f", file);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^deployed shop \(generation 2\): recorded; the next request wakes it\n$/);

  const ls = await walk("apps", "ls");
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /^NAME\s+IMAGE\s+GENERATION\s+MACHINES\s+ROUTES/);
  assert.match(ls.stdout, /shop\s+busybox:2\s+2\s+0\/1\s+shop\.localhost->8080, shop\.test->8080/);
  const inspected = JSON.parse((await walk("apps", "inspect", "shop")).stdout) as AppWire;
  assert.equal(inspected.image, "busybox:2");
  assert.equal(inspected.services[0]!.autostop, "suspend");

  const logs = await walk("apps", "logs", "shop");
  assert.equal(logs.code, 0, logs.stderr);
  assert.equal(logs.stdout, "", "no machine yet, no output");
  const noSlot = await walk("apps", "logs", "shop", "--machine", "0");
  assert.equal(noSlot.code, 1);
  assert.match(noSlot.stderr, /app shop has no machine in slot 0/);
  const badSlot = await walk("apps", "logs", "shop", "--machine", "first");
  assert.equal(badSlot.code, 1);
  assert.match(badSlot.stderr, /--machine must be a slot number \(0, 1, \.\.\.\), got "first"/);

  await writeFile(file, `name = "shop"\nimage = "busybox:3"\n[[services]]\ninternal_port = 8080\nconcurrency = { soft = 9, hard = 2 }\n`);
  const bad = await walk("deploy", "-f", file);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /walk\.toml: services\[0\]\.concurrency\.soft: \(9\) must not exceed hard \(2\)/);
  assert.equal((JSON.parse((await walk("apps", "inspect", "shop")).stdout) as AppWire).generation, 2, "a refused deploy records nothing");

  const missing = await walk("deploy", "-f", join(d.dir, "nope.toml"));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read .*nope\.toml/);

  const removed = await walk("apps", "rm", "shop");
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal(removed.stdout, "shop\n");
  assert.deepEqual(JSON.parse((await walk("apps", "ls", "--json")).stdout), []);
  const gone = await walk("apps", "inspect", "shop");
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /no app "shop"/);
});

test("walk apps metrics: a block per service and a line per instance, --json prints the API's document, an unknown app is an error", async (t) => {
  // The activator on a port of its own: the default one may belong to another walkd on this host.
  const dir = await mkdtemp(join(tmpdir(), "walk-test-"));
  const config = join(dir, "walkd.toml");
  await writeFile(config, '[machines]\nnetwork = "none"\n[activator]\nlisten = "127.0.0.1:0"\n');
  const d = await startTestDaemon({ dir, flags: { config } });
  t.after(() => d.close());
  const walk = (...args: string[]) => runCli(d.daemon.socketPath, args);
  const file = join(dir, "walk.toml");
  // An image walkd does not have, named by digest so that it is not pulled: every wake fails at once.
  await writeFile(file, `name = "shop"\nimage = "sha256:${"0".repeat(64)}"\n[[services]]\ninternal_port = 8080\n`);
  assert.equal((await walk("deploy", "-f", file)).code, 0);
  const port = d.daemon.activatorAddress!.port;
  assert.equal((await fetchVia(port, "shop.localhost")).status, 502, "the machine cannot be created");

  const human = await walk("apps", "metrics", "shop");
  assert.equal(human.code, 0, human.stderr);
  const lines = human.stdout.split("\n");
  assert.deepEqual(lines.slice(0, 9), [
    "Route:      shop",
    "State:      stopped (0 running, min 0, max 1)",
    "Load:       0 in flight, 0 waiting, 0 open connections",
    "Requests:   1",
    "Wakes:      0 boot, 0 resume; 1 failed, 0 timed out",
    "Idles:      0",
    "Refusals:   wake_failed 1",
    "Wake time:  boot -; resume -",
    "Hold time:  -",
  ]);
  assert.match(lines[9]!, /^SLOT\s+STATE\s+TARGET\s+IN FLIGHT\s+OPEN\s+DRAINING\s+REQUESTS\s+BOOTS\s+RESUMES\s+FAILED\s+TIMED OUT\s+IDLES$/);
  assert.match(lines[10]!, /^0\s+stopped\s+-\s+0\s+0\s+0\s+0\s+0\s+0\s+1\s+0\s+0$/);
  assert.deepEqual(lines.slice(11), [""]);

  const json = await walk("apps", "metrics", "shop", "--json");
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), await d.client.appMetrics("shop"), "the API's document, unchanged");

  const unknown = await walk("apps", "metrics", "nope");
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stdout, "");
  assert.equal(unknown.stderr, 'walk: no app "nope" (see `walk apps ls`)\n');
});
