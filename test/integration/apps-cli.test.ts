// `walk deploy` and `walk apps ls|inspect|rm|logs [--machine]` end to end: the real CLI binary and a real walkd
// (its MachineService, the /v1/apps API and the apps table). Apps here have min_machines = 0, so a
// deploy only records them and nothing boots.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startTestDaemon } from "../harness/daemon.js";
import { runCli } from "../harness/cli.js";
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
