// The machine side of networking without host devices: modes, port validation and the create-time
// claims (allocate, clash with other machines, release on failure). No tap, rule or socket stays.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { newId } from "../lib/index.js";
import { DEFAULT_NET_CONFIG, NetworkManager } from "../net/index.js";
import { openTempNetDb } from "../net/testing.js";
import { MachineNetworking } from "./network.js";

function withNet(fn: (mn: MachineNetworking, nm: NetworkManager) => Promise<void>): Promise<void> {
  const db = openTempNetDb();
  const nm = new NetworkManager({ db: db.db, config: { ...DEFAULT_NET_CONFIG, pool: "10.240.0.0/28" } });
  return fn(new MachineNetworking(nm, "default"), nm).finally(() => db.close());
}

test("modes: the default applies, none cannot publish, unknown modes and bad specs are refused", async () => {
  await withNet(async (mn) => {
    assert.equal(mn.modeFor(undefined, []), "default");
    assert.equal(mn.modeFor("none", []), "none");
    assert.throws(() => mn.modeFor("none", ["8080:80"]), /network "none" cannot publish ports \(8080:80\)/);
    assert.throws(() => mn.modeFor("bridge", []), /network mode must be one of default, none, got "bridge"/);
    assert.throws(() => mn.modeFor(undefined, ["8080:80/sctp"]), /invalid port spec "8080:80\/sctp": the protocol must be tcp or udp/);
    assert.throws(() => mn.modeFor(undefined, ["127.0.0.1:443:443"]), (e: Error & { code?: string }) => e.code === "forbidden" && /privileged/.test(e.message));
  });
  const without = new MachineNetworking(undefined, "none");
  assert.equal(without.modeFor(undefined, []), "none");
  assert.throws(() => without.modeFor("default", []), (e: Error & { code?: string }) => e.code === "unavailable" && /--net none/.test(e.message));
  assert.equal(without.describe(newId(), "default"), null);
});

test("allocate: a port another machine publishes or a process holds is a conflict, and the lease is released", async () => {
  await withNet(async (mn, nm) => {
    const a = newId();
    await mn.allocate(a, ["127.0.0.1:18470:80"], []);
    assert.deepEqual(mn.describe(a, "default")?.ports, [{ host_ip: "127.0.0.1", host_port: 18470, guest_port: 80, protocol: "tcp" }]);
    const b = newId();
    await assert.rejects(mn.allocate(b, ["0.0.0.0:18470:81"], [a]), new RegExp(`host port 0\\.0\\.0\\.0:18470->81/tcp is already published by machine ${a}`));
    assert.equal(nm.describe(b), undefined);
    // UDP on the same number is another socket.
    await mn.allocate(b, ["127.0.0.1:18470:81/udp"], [a]);

    const holder = createServer();
    await new Promise<void>((r) => holder.listen(18471, "127.0.0.1", r));
    try {
      const c = newId();
      await assert.rejects(mn.allocate(c, ["127.0.0.1:18471:80"], [a, b]), /18471/);
      assert.equal(nm.describe(c), undefined);
    } finally {
      holder.close();
    }
    // The /28 holds four machines: a fifth is an exhausted pool, with nothing kept.
    await mn.allocate(newId(), [], []);
    await mn.allocate(newId(), [], []);
    const d = newId();
    await assert.rejects(mn.allocate(d, [], [a, b]), /address pool 10\.240\.0\.0\/28 is exhausted/);
    assert.equal(nm.describe(d), undefined);
  });
});
