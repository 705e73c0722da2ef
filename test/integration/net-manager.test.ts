// NetworkManager end to end, run by an agent inside namespace H (the host stand-in) over a real
// database, with guests GA, GB, GC as namespaces behind veths standing in for taps, and O as the
// internet with a DNS server the test controls. Covers setUp/tearDown/release, published ports,
// DNS, isolation, a port conflict before boot with rollback, and a daemon crash + reconcile.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { newId } from "../../src/lib/index.js";
import type { GuestNetParams, MachineNetwork, ReconcileReport } from "../../src/net/index.js";
import { openTempNetDb, type TempDb } from "../../src/net/testing.js";
import { NetAgent, Netns, configureGuest, linkOutsideWorld, type ProbeResult } from "../harness/netns.js";

let H: Netns, O: Netns, GA: Netns, GB: Netns, GC: Netns;
let db: TempDb;
let agent: NetAgent;
const A = newId();
const B = newId();
const C = newId();
const D = newId();
let netA: MachineNetwork;
let netB: MachineNetwork;
const config = {
  pool: "10.231.0.0/16",
  mtu: 1400,
  dns: { mode: "forward", upstreams: ["203.0.113.1:53"] },
  allowedCidrs: [],
  publishDefaultAddress: "127.0.0.1",
  allowPrivilegedPorts: false,
};

async function startAgent(): Promise<NetAgent> {
  const a = await NetAgent.start(H, db.path, config);
  for (const [id, ns] of [
    [A, GA],
    [B, GB],
    [C, GC],
  ] as const) {
    await a.call("guestNs", id, ns.name);
  }
  return a;
}

before(async () => {
  [H, O, GA, GB, GC] = (await Promise.all(["h", "o", "ga", "gb", "gc"].map((l) => Netns.create(`nm${l}`)))) as [Netns, Netns, Netns, Netns, Netns];
  db = openTempNetDb();
  // A new namespace inherits ip_forward from the host's; the tests below check walk's own changes to it.
  await H.check("sysctl", ["-w", "net.ipv4.ip_forward=0"]);
  await linkOutsideWorld(H, O);
  agent = await startAgent();
});
after(async () => {
  await agent?.stop(true);
  for (const n of [H, O, GA, GB, GC]) await n?.destroy();
  db?.close();
});

const get = (ns: Netns, ip: string, port: number) => ns.probe<ProbeResult>(["tcp-get", ip, String(port)]);
const links = async () => (JSON.parse(await H.check("ip", ["-j", "link", "show"])) as { ifname: string }[]).map((l) => l.ifname);
const table = () => H.check("nft", ["list", "table", "inet", "walk"]);

test("setUp: link, table, guest parameters; the guest reaches out through NAT and resolves through walk", async () => {
  netA = await agent.call<MachineNetwork>("allocate", A, ["127.0.0.1:18080:80", "18053:53/udp"]);
  netB = await agent.call<MachineNetwork>("allocate", B, []);
  assert.equal(netA.tap, `wk${A.slice(0, 12)}`);
  assert.deepEqual(await agent.call<GuestNetParams>("guestParams", A), { ip: { address: netA.guestIp, prefix: 30 }, gateway: netA.gatewayIp, dns: [netA.gatewayIp], mtu: 1400 });
  assert.equal(await H.check("sysctl", ["-n", "net.ipv4.ip_forward"]), "0\n");
  await agent.call("setUp", A);
  await agent.call("setUp", A); // idempotent
  await agent.call("setUp", B);
  assert.equal(await H.check("sysctl", ["-n", "net.ipv4.ip_forward"]), "1\n");
  await configureGuest(GA, await agent.call<GuestNetParams>("guestParams", A));
  await configureGuest(GB, await agent.call<GuestNetParams>("guestParams", B));
  assert.ok((await links()).includes(netA.tap));
  assert.match(await table(), new RegExp(`"${netA.tap}" \\. ${netA.guestIp.replace(/\./g, "\\.")}`));
  assert.deepEqual(await get(GA, "203.0.113.1", 80), { ok: true, data: "hello from 203.0.113.1:80 to 203.0.113.2\n" });
  assert.deepEqual(await GA.probe(["dns-ask", netA.gatewayIp, "svc.walk.test"]), { id: 0x4242, rcode: 0, addresses: ["198.51.100.7"] });
  assert.deepEqual(await GA.probe(["dns-ask", netA.gatewayIp, "other.walk.test"]), { id: 0x4242, rcode: 3, addresses: [] });
});

test("published ports reach the guest from the host's loopback, TCP and UDP", async () => {
  await GA.startProbe(["tcp-server", netA.guestIp, "80"]);
  await GA.startProbe(["udp-echo", netA.guestIp, "53"]);
  assert.deepEqual(await get(H, "127.0.0.1", 18080), { ok: true, data: `hello from ${netA.guestIp}:80 to ${netA.gatewayIp}\n` });
  assert.deepEqual(await H.probe(["udp-ask", "127.0.0.1", "18053", "ping"]), { ok: true, data: "echo ping" });
});

test("machines cannot reach each other, the host's services or the metadata address", async () => {
  await GB.startProbe(["tcp-server", netB.guestIp, "80"]);
  assert.deepEqual(await get(GA, netB.guestIp, 80), { ok: false, code: "EHOSTUNREACH" });
  assert.deepEqual(await get(GB, netA.guestIp, 80), { ok: false, code: "EHOSTUNREACH" });
  assert.deepEqual(await get(GA, "203.0.113.2", 9000), { ok: false, code: "EHOSTUNREACH" });
  assert.deepEqual(await get(GA, "169.254.169.254", 80), { ok: false, code: "EHOSTUNREACH" });
});

test("a port in use is reported before boot and setUp leaves no link, rule or socket behind", async () => {
  await H.startProbe(["tcp-server", "127.0.0.1", "18081"]);
  const netC = await agent.call<MachineNetwork>("allocate", C, ["18082:80/udp", "18081:80"]);
  const inUse = (e: Error & { code?: string }) => e.code === "conflict" && e.message.includes("host port 127.0.0.1:18081/tcp is already in use");
  await assert.rejects(agent.call("setUp", C), inUse);
  assert.ok(!(await links()).includes(netC.tap));
  assert.doesNotMatch(await table(), new RegExp(netC.tap));
  // The early check binds 18082/udp first: had the failed setUp kept it, this would name 18082.
  await assert.rejects(agent.call("checkPorts", C), inUse);
  await assert.rejects(agent.call("allocate", D, ["80:80"]), (e: Error & { code?: string }) => e.code === "forbidden" && /privileged/.test(e.message));
  await assert.rejects(agent.call("allocate", D, ["8080"]), (e: Error & { code?: string }) => e.code === "invalid_argument");
  await agent.call("release", C);
});

test("after a daemon crash, reconcile restores running machines and removes only walk's orphans", async () => {
  await agent.call("tearDown", B);
  assert.ok(!(await links()).includes(netB.tap));
  const netD = await agent.call<MachineNetwork>("allocate", D, []); // a machine that will be gone by the restart
  await agent.stop(true);
  // The crash left D's tap behind: a walk link of a machine this walkd knows.
  await H.check("ip", ["link", "add", netD.tap, "type", "veth", "peer", "name", "orphanpeer"]);
  await H.check("ip", ["link", "set", "dev", netD.tap, "alias", `walk:${D}`]);
  // Another walkd's link on the same host, and a device that is not walk's at all.
  await H.check("ip", ["link", "add", "wkother0000001", "type", "veth", "peer", "name", "otherpeer"]);
  await H.check("ip", ["link", "set", "dev", "wkother0000001", "alias", `walk:${newId()}`]);
  await H.check("ip", ["link", "add", "wkforeign00001", "type", "veth", "peer", "name", "foreignpeer"]);
  assert.equal((await get(H, "127.0.0.1", 18080)).ok, false, "published ports died with walkd");

  agent = await startAgent();
  const r = await agent.call<{ setUp: string[]; removedLinks: string[]; releasedLeases: string[]; failed: unknown[] } & Partial<ReconcileReport>>("reconcile", [
    { id: A, running: true },
    { id: B, running: false },
  ]);
  assert.deepEqual(r.setUp, [A]);
  assert.deepEqual(r.removedLinks, [netD.tap]);
  assert.deepEqual(r.releasedLeases, [D]);
  assert.deepEqual(r.failed, []);
  const now = await links();
  assert.ok(now.includes("wkforeign00001"), "a device without walk's alias is never touched");
  assert.ok(now.includes("wkother0000001"), "another walkd's link is not this walkd's to remove");
  await H.check("ip", ["link", "del", "wkother0000001"]);
  assert.ok(now.includes(netA.tap));
  assert.ok(!now.includes(netB.tap));
  assert.deepEqual(await get(H, "127.0.0.1", 18080), { ok: true, data: `hello from ${netA.guestIp}:80 to ${netA.gatewayIp}\n` });
  assert.deepEqual(await get(GA, "203.0.113.1", 80), { ok: true, data: "hello from 203.0.113.1:80 to 203.0.113.2\n" });
  assert.deepEqual(await get(GA, "169.254.169.254", 80), { ok: false, code: "EHOSTUNREACH" });
});

test("release frees the address for the next machine and the last teardown restores ip_forward", async () => {
  await agent.call("release", A);
  assert.ok(!(await links()).includes(netA.tap));
  assert.equal((await get(H, "127.0.0.1", 18080)).ok, false);
  assert.equal(await H.check("sysctl", ["-n", "net.ipv4.ip_forward"]), "0\n");
  const next = await agent.call<MachineNetwork>("allocate", newId(), []);
  assert.equal(next.subnet, netA.subnet);
  await agent.call("release", B);
});
