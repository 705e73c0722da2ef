import { test } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../store/index.js";
import { MIGRATIONS } from "../store/migrations.js";
import { parseWalkToml } from "./config.js";
import { AppRepository } from "./store.js";

/** The schema version before apps had machine slots. */
const ONE_MACHINE_SCHEMA = 4;

test("apps store migration: each app's machine and snapshot move into slot 0; old specs get max_machines = 1", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "walk-apps-store-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, "walk.db");
  const old = new Database(path);
  for (const m of MIGRATIONS.slice(0, ONE_MACHINE_SCHEMA)) old.exec(m);
  old.pragma(`user_version = ${ONE_MACHINE_SCHEMA}`);
  const { maxMachines: _, ...oldSpec } = parseWalkToml(`name = "shop"\nimage = "img:1"\n[[services]]\ninternal_port = 80\nmin_machines = 1\n`);
  const insert = old.prepare("INSERT INTO apps (name, spec, generation, machine_id, machine_generation, snapshot_generation, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'c', 'u')");
  insert.run("shop", JSON.stringify(oldSpec), 3, "a".repeat(32), 2, 2);
  insert.run("idle", JSON.stringify({ ...oldSpec, name: "idle" }), 1, null, null, null);
  old.close();

  const db = openDatabase(path);
  t.after(() => db.close());
  const repo = new AppRepository(db);
  const shop = repo.get("shop")!;
  assert.equal(shop.generation, 3);
  assert.deepEqual(shop.machines, [{ slot: 0, machineId: "a".repeat(32), generation: 2, snapshotGeneration: 2 }]);
  assert.equal(shop.spec.maxMachines, 1);
  assert.equal(shop.spec.services[0]!.minMachines, 1);
  assert.deepEqual(repo.get("idle")!.machines, []);
  const columns = (db.prepare("SELECT name FROM pragma_table_info('apps')").all() as Array<{ name: string }>).map((c) => c.name);
  assert.ok(!columns.includes("machine_id") && !columns.includes("snapshot_generation"), `apps columns: ${columns.join(", ")}`);
});

test("apps store: slots are recorded per app; a deploy drops every snapshot; removing the app removes its slots", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "walk-apps-store-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const db = openDatabase(join(dir, "walk.db"));
  t.after(() => db.close());
  const repo = new AppRepository(db);
  const spec = parseWalkToml(`name = "shop"\nimage = "img:1"\nmax_machines = 3\n[[services]]\ninternal_port = 80\n`);
  repo.deploy(spec);
  repo.setSlotMachine("shop", 2, "c".repeat(32), 1);
  repo.setSlotMachine("shop", 0, "a".repeat(32), 1);
  repo.setSlotSnapshot("shop", 0, 1);
  assert.deepEqual(repo.get("shop")!.machines.map((m) => [m.slot, m.snapshotGeneration]), [[0, 1], [2, null]]);
  repo.setSlotMachine("shop", 0, "b".repeat(32), 1);
  assert.deepEqual(repo.slot("shop", 0), { slot: 0, machineId: "b".repeat(32), generation: 1, snapshotGeneration: null }, "a new machine drops the slot's snapshot");
  repo.setSlotSnapshot("shop", 2, 1);
  const redeployed = repo.deploy(spec);
  assert.equal(redeployed.generation, 2);
  assert.deepEqual(redeployed.machines.map((m) => m.snapshotGeneration), [null, null]);
  repo.removeSlot("shop", 2);
  assert.deepEqual(repo.get("shop")!.machines.map((m) => m.slot), [0]);
  assert.equal(repo.remove("shop"), true);
  assert.equal((db.prepare("SELECT COUNT(*) AS n FROM app_machines").get() as { n: number }).n, 0);
});
