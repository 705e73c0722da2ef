import { afterEach, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { newId } from "../lib/index.js";
import { NetRepository } from "./leases.js";
import { openTempNetDb, type TempDb } from "./testing.js";

let t: TempDb;
let repo: NetRepository;
beforeEach(() => {
  t = openTempNetDb();
  repo = new NetRepository(t.db);
});
afterEach(() => t.close());

test("20 machines get 20 distinct /30s, gateways, taps and MACs, in pool order", () => {
  const ids = Array.from({ length: 20 }, () => newId());
  const leases = ids.map((id) => repo.allocate(id, "10.231.0.0/16", []));
  for (const key of ["subnet", "guestIp", "gatewayIp", "tap", "mac"] as const) {
    assert.equal(new Set(leases.map((l) => l[key])).size, 20, key);
  }
  assert.deepEqual(
    leases.slice(0, 2).map((l) => [l.subnet, l.gatewayIp, l.guestIp, l.prefix]),
    [
      ["10.231.0.0/30", "10.231.0.1", "10.231.0.2", 30],
      ["10.231.0.4/30", "10.231.0.5", "10.231.0.6", 30],
    ],
  );
  assert.equal(leases[19]!.guestIp, "10.231.0.78");
  assert.equal(repo.list().length, 20);
});

test("allocate is idempotent and keeps the first lease's ports", () => {
  const id = newId();
  const a = repo.allocate(id, "10.231.0.0/16", [{ hostIp: "127.0.0.1", hostPort: 8080, guestPort: 80, protocol: "tcp" }]);
  const b = repo.allocate(id, "10.231.0.0/16", []);
  assert.deepEqual(b, a);
  assert.equal(repo.list().length, 1);
});

test("released addresses are reused, lowest first, and never shared with a live machine", () => {
  const ids = Array.from({ length: 5 }, () => newId());
  const leases = ids.map((id) => repo.allocate(id, "10.231.0.0/16", []));
  assert.equal(repo.release(ids[1]!), true);
  assert.equal(repo.release(ids[1]!), false);
  assert.equal(repo.release(ids[3]!), true);
  const n1 = repo.allocate(newId(), "10.231.0.0/16", []);
  const n2 = repo.allocate(newId(), "10.231.0.0/16", []);
  assert.equal(n1.subnet, leases[1]!.subnet);
  assert.equal(n2.subnet, leases[3]!.subnet);
  const live = repo.list();
  assert.equal(new Set(live.map((l) => l.guestIp)).size, live.length);
});

test("an exhausted pool is a clear error and allocates nothing", () => {
  const pool = "10.9.0.0/28"; // four /30s
  for (let i = 0; i < 4; i++) repo.allocate(newId(), pool, []);
  assert.throws(
    () => repo.allocate(newId(), pool, []),
    (e: Error & { code?: string }) => e.code === "size_exceeded" && /pool 10\.9\.0\.0\/28 is exhausted: all 4 machine subnets are in use/.test(e.message),
  );
  assert.equal(repo.list().length, 4);
});

test("two ids with the same short id cannot both have a tap", () => {
  repo.allocate("abcdefabcdef0001", "10.231.0.0/16", []);
  assert.throws(() => repo.allocate("abcdefabcdef0002", "10.231.0.0/16", []), (e: Error & { code?: string }) => e.code === "conflict" && /wkabcdefabcdef/.test(e.message));
  assert.equal(repo.list().length, 1);
});

test("a lease survives reopening the repository on the same database", () => {
  const id = newId();
  const a = repo.allocate(id, "10.231.0.0/16", []);
  assert.deepEqual(new NetRepository(t.db).get(id), a);
});

test("host state records round-trip", () => {
  assert.equal(repo.getHostState("k"), undefined);
  repo.setHostState("k", "0");
  repo.setHostState("k", "1");
  assert.equal(repo.getHostState("k"), "1");
  repo.deleteHostState("k");
  assert.equal(repo.getHostState("k"), undefined);
});

test("two processes allocating at once on one database never share an address", async () => {
  const repoUrl = new URL("./leases.js", import.meta.url).href;
  const dbUrl = new URL("../store/index.js", import.meta.url).href;
  const script = `
    const { NetRepository } = await import(${JSON.stringify(repoUrl)});
    const { openDatabase } = await import(${JSON.stringify(dbUrl)});
    const { randomBytes } = await import("node:crypto");
    const repo = new NetRepository(openDatabase(process.argv[1]));
    for (let i = 0; i < 25; i++) repo.allocate(randomBytes(16).toString("hex"), "10.231.0.0/16", []);`;
  const run = () =>
    new Promise<number | null>((resolve) => spawn(process.execPath, ["--input-type=module", "-e", script, t.path], { stdio: "inherit" }).on("exit", resolve));
  assert.deepEqual(await Promise.all([run(), run()]), [0, 0]);
  const all = repo.list();
  assert.equal(all.length, 50);
  assert.equal(new Set(all.map((l) => l.subnet)).size, 50);
  assert.equal(all.at(-1)!.subnet, "10.231.0.196/30", "the lowest 50 blocks, no gaps");
});
