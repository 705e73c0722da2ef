// Images and machines together: an image a machine runs cannot be removed, and prune keeps the
// app disk a machine boots from. Uses the Firecracker stand-in: no guest is needed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { rm, stat } from "node:fs/promises";
import { runCli } from "../harness/cli.js";
import { machineFixture } from "./machine-fixture.js";

test("walk image rm refuses an image a machine uses; prune keeps that machine's app disk", async (t) => {
  const f = await machineFixture({ backend: "standin" });
  t.after(() => rm(f.dir, { recursive: true, force: true }));
  t.after(() => f.d.close());
  const walk = (...args: string[]) => runCli(f.d.daemon.socketPath, args);
  const m = await f.d.client.createMachine({ image: f.image, name: "keeper", start: false, network: "none" });

  const refused = await walk("image", "rm", f.image);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /used by machine keeper; remove it first with walk rm/);
  assert.equal((await walk("image", "inspect", f.image)).code, 0, "the tag survives a refused removal");

  const pruned = JSON.parse((await walk("image", "prune", "--json")).stdout) as { removed_app_disks: string[] };
  assert.ok(!pruned.removed_app_disks.includes(m.app_disk.id), "the machine's app disk stays");
  assert.ok((await stat(m.app_disk.path)).isFile());

  assert.equal((await walk("rm", "keeper")).code, 0);
  const removed = await walk("image", "rm", f.image);
  assert.equal(removed.code, 0, removed.stderr);
});
