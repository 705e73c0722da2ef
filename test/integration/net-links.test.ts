// Walk's links (taps) in a namespace the test creates: create, reuse, configure, delete, list,
// name collisions, ownership, and rollback of a half-configured tap.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { HostNet } from "../../src/net/host.js";
import { LinkDevices, tapKind } from "../../src/net/devices.js";
import { tapAlias } from "../../src/net/names.js";
import { execFile, newId } from "../../src/lib/index.js";
import { NetworkManager } from "../../src/net/manager.js";
import { DEFAULT_NET_CONFIG } from "../../src/net/config.js";
import { openTempNetDb } from "../../src/net/testing.js";
import { Netns } from "../harness/netns.js";

let ns: Netns;
let host: HostNet;
let taps: LinkDevices;
before(async () => {
  ns = await Netns.create("links");
  host = new HostNet(ns.name);
  taps = new LinkDevices(host, tapKind({ uid: 4242, gid: 4343 }));
});
after(() => ns.destroy());

interface Link {
  ifname: string;
  ifalias?: string;
  mtu: number;
  flags: string[];
  linkinfo?: { info_kind?: string; info_data?: { type?: string; user?: string | number; group?: string | number } };
}
async function show(name: string): Promise<Link | undefined> {
  const r = await ns.exec("ip", ["-d", "-j", "link", "show", "dev", name]);
  return r.code === 0 ? (JSON.parse(r.stdout) as Link[])[0] : undefined;
}
const plan = (name: string, machineId: string, gw = "10.231.0.1") => ({ name, machineId, gateway: gw, prefix: 30, mtu: 1400 });
const code = (c: string) => (e: Error & { code?: string }) => e.code === c;

test("a tap is created with walk's alias, owner, MTU, gateway address, IPv6 off and up; again: reused", async () => {
  assert.equal(await taps.ensure(plan("wk000000000001", "m1")), "created");
  const l = (await show("wk000000000001"))!;
  assert.equal(l.ifalias, tapAlias("m1"));
  assert.equal(l.linkinfo?.info_kind, "tun");
  assert.equal(l.linkinfo?.info_data?.type, "tap");
  assert.equal(String(l.linkinfo?.info_data?.user), "4242");
  assert.equal(l.mtu, 1400);
  assert.ok(l.flags.includes("UP"));
  assert.match(await ns.check("ip", ["-4", "addr", "show", "dev", "wk000000000001"]), /inet 10\.231\.0\.1\/30/);
  assert.equal((await host.readSysctl("net.ipv6.conf.wk000000000001.disable_ipv6")), "1");
  assert.equal(await taps.ensure(plan("wk000000000001", "m1")), "reused");
  assert.equal((await ns.check("ip", ["-4", "-o", "addr", "show", "dev", "wk000000000001"])).trim().split("\n").length, 1);
  assert.deepEqual(await taps.list(), [{ name: "wk000000000001", machineId: "m1" }]);
  await taps.remove("wk000000000001", "m1");
  assert.equal(await show("wk000000000001"), undefined);
  await taps.remove("wk000000000001", "m1"); // missing: fine
});

test("a name taken by a device walk did not make is a conflict, and that device is untouched", async () => {
  await ns.check("ip", ["link", "add", "wk000000000002", "type", "veth", "peer", "name", "other0"]);
  await assert.rejects(taps.ensure(plan("wk000000000002", "m2")), (e: Error & { code?: string }) => code("conflict")(e) && /wk000000000002 already exists and is a device walk did not create/.test(e.message));
  await assert.rejects(taps.remove("wk000000000002", "m2"), code("conflict"));
  const l = (await show("wk000000000002"))!;
  assert.equal(l.linkinfo?.info_kind, "veth");
  assert.equal(l.ifalias, undefined);
  assert.deepEqual(await taps.list(), []);
});

test("another machine's tap is a conflict, not a reuse", async () => {
  await taps.ensure(plan("wk000000000003", "m3", "10.231.0.5"));
  await assert.rejects(taps.ensure(plan("wk000000000003", "m4")), (e: Error & { code?: string }) => code("conflict")(e) && /walk's device for machine m3/.test(e.message));
  await assert.rejects(taps.remove("wk000000000003", "m4"), code("conflict"));
  assert.ok(await show("wk000000000003"));
  await taps.remove("wk000000000003", "m3");
});

test("a tap walk crashed before labelling is adopted by its machine", async () => {
  await ns.check("ip", ["tuntap", "add", "dev", "wk000000000005", "mode", "tap"]);
  assert.deepEqual(await taps.list(), [], "an unlabelled tap is never listed for GC");
  assert.equal(await taps.ensure(plan("wk000000000005", "m5", "10.231.0.9")), "reused");
  assert.equal((await show("wk000000000005"))!.ifalias, tapAlias("m5"));
  await taps.remove("wk000000000005", "m5");
});

test("a tap that fails half-way through configuration is deleted", async () => {
  await assert.rejects(taps.ensure({ ...plan("wk000000000006", "m6"), mtu: 70000 }), /configuring wk000000000006 .*failed/s);
  assert.equal(await show("wk000000000006"), undefined);
});

test("with network.netns, NetworkManager makes the tap, the table and forwarding in that namespace only", async () => {
  const db = openTempNetDb();
  const nm = new NetworkManager({ db: db.db, config: { ...DEFAULT_NET_CONFIG, netns: ns.name, dns: { mode: "none" }, tapOwner: { uid: 4242, gid: 4242 } } });
  const id = newId();
  try {
    const net = nm.allocate(id);
    assert.deepEqual(nm.networkSpec(id), { tap: net.tap, mac: net.mac });
    assert.deepEqual(nm.guestParams(id).dns, []);
    await nm.setUp(id);
    const l = (await show(net.tap))!;
    assert.equal(l.linkinfo?.info_data?.type, "tap");
    assert.equal(String(l.linkinfo?.info_data?.user), "4242");
    assert.notEqual((await execFile("ip", ["link", "show", "dev", net.tap])).code, 0, "nothing in walkd's own namespace");
    assert.match(await ns.check("nft", ["list", "set", "inet", "walk", "machine_taps"]), new RegExp(`"${net.tap}"`));
    assert.equal(await host.readSysctl("net.ipv4.ip_forward"), "1");
    await nm.tearDown(id);
    assert.equal(await show(net.tap), undefined);
    // With no machine left, walk's table goes too: nothing remains to filter.
    await assert.rejects(ns.check("nft", ["list", "table", "inet", "walk"]), /No such file or directory/);
    assert.equal(await host.readSysctl("net.ipv4.ip_forward"), "0");
    await nm.release(id);
    assert.equal(nm.describe(id), undefined);
  } finally {
    await nm.close();
    db.close();
  }
});
