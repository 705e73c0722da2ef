// walk's nftables table in force, in namespaces the test creates: H stands in for the host, O for
// the internet (plus a metadata address and an operator-allowed LAN range), A and B for two
// guests attached through veths named like taps. The rules must let A out through NAT and to its
// DNS, and refuse it other machines, the host's services, metadata and spoofed sources; they must
// be replaced atomically and leave other tables alone.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { HostNet } from "../../src/net/host.js";
import { applyTable, removeTable, renderTable, type NftState } from "../../src/net/nft.js";
import { Netns, link, type ProbeResult } from "../harness/netns.js";

let H: Netns, O: Netns, A: Netns, B: Netns;
let host: HostNet;
const TAP_A = "wkaaaaaaaaaaaa";
const TAP_B = "wkbbbbbbbbbbbb";
const state: NftState = {
  pool: "10.231.0.0/16",
  allowedCidrs: ["10.99.0.0/24"],
  machines: [
    { tap: TAP_A, guestIp: "10.231.0.2", gatewayIp: "10.231.0.1", dns: true },
    { tap: TAP_B, guestIp: "10.231.0.6", gatewayIp: "10.231.0.5", dns: false },
  ],
};

before(async () => {
  [H, O, A, B] = (await Promise.all(["h", "o", "a", "b"].map((l) => Netns.create(`nft${l}`)))) as [Netns, Netns, Netns, Netns];
  host = new HostNet(H.name);
  await link(H, "uplink0", "203.0.113.2/24", O, "eth0", "203.0.113.1/24");
  for (const extra of ["169.254.169.254/32", "10.99.0.1/32", "10.98.0.1/32"]) await O.check("ip", ["addr", "add", extra, "dev", "eth0"]);
  for (const dst of ["169.254.169.254/32", "10.99.0.0/24", "10.98.0.0/24"]) await H.check("ip", ["route", "add", dst, "via", "203.0.113.1"]);
  await O.check("ip", ["route", "add", "10.231.0.0/16", "via", "203.0.113.2"]);
  await link(H, TAP_A, "10.231.0.1/30", A, "eth0", "10.231.0.2/30");
  await link(H, TAP_B, "10.231.0.5/30", B, "eth0", "10.231.0.6/30");
  await A.check("ip", ["route", "add", "default", "via", "10.231.0.1"]);
  await B.check("ip", ["route", "add", "default", "via", "10.231.0.5"]);
  await host.writeSysctl("net.ipv4.ip_forward", "1");
  for (const [ns, ip, port] of [
    [O, "203.0.113.1", 80],
    [O, "169.254.169.254", 80],
    [O, "10.99.0.1", 80],
    [O, "10.98.0.1", 80],
    [B, "10.231.0.6", 80],
    [A, "10.231.0.2", 80],
    [H, "203.0.113.2", 9000],
    [H, "10.231.0.1", 9000],
  ] as const) {
    await ns.startProbe(["tcp-server", ip, String(port)]);
  }
  await H.startProbe(["udp-echo", "10.231.0.1", "53"]);
  await H.check("nft", ["-f", "-"], "table ip other {\n\tchain c {\n\t\ttype filter hook input priority 10; policy accept;\n\t\tcounter\n\t}\n}\n");
});
after(async () => {
  for (const n of [H, O, A, B]) await n?.destroy();
});

const get = (ns: Netns, ip: string, port: number, ...rest: string[]) => ns.probe<ProbeResult>(["tcp-get", ip, String(port), ...rest]);
const REFUSED_BY_WALK = { ok: false, code: "EHOSTUNREACH" };

test("without walk's table the guests could reach each other (the control)", async () => {
  assert.deepEqual(await get(A, "10.231.0.6", 80), { ok: true, data: "hello from 10.231.0.6:80 to 10.231.0.2\n" });
});

test("with the table: egress through NAT, to DNS on the gateway, and to an allowed range", async () => {
  await applyTable(host, renderTable(state));
  assert.deepEqual(await get(A, "203.0.113.1", 80), { ok: true, data: "hello from 203.0.113.1:80 to 203.0.113.2\n" });
  assert.deepEqual(await A.probe(["udp-ask", "10.231.0.1", "53", "q"]), { ok: true, data: "echo q" });
  assert.deepEqual(await get(A, "10.99.0.1", 80), { ok: true, data: "hello from 10.99.0.1:80 to 203.0.113.2\n" });
});

test("with the table: other machines, metadata, private ranges and the host's services are refused", async () => {
  await applyTable(host, renderTable(state));
  assert.deepEqual(await get(A, "10.231.0.6", 80), REFUSED_BY_WALK);
  assert.deepEqual(await get(B, "10.231.0.2", 80), REFUSED_BY_WALK);
  assert.deepEqual(await get(A, "169.254.169.254", 80), REFUSED_BY_WALK);
  assert.deepEqual(await get(A, "10.98.0.1", 80), REFUSED_BY_WALK);
  assert.deepEqual(await get(A, "203.0.113.2", 9000), REFUSED_BY_WALK);
  assert.deepEqual(await get(A, "10.231.0.1", 9000), REFUSED_BY_WALK);
  assert.deepEqual(await get(A, "10.231.0.5", 9000), REFUSED_BY_WALK, "another machine's gateway is the host too");
});

test("with the table: spoofed sources are dropped and nothing new comes in from outside", async () => {
  await applyTable(host, renderTable(state));
  await A.check("ip", ["addr", "add", "10.231.0.10/32", "dev", "eth0"]);
  try {
    assert.deepEqual(await get(A, "203.0.113.1", 80, "10.231.0.10", "1500"), { ok: false, code: "TIMEOUT" });
  } finally {
    await A.check("ip", ["addr", "del", "10.231.0.10/32", "dev", "eth0"]);
  }
  assert.deepEqual(await get(O, "10.231.0.2", 80, "", "1500"), { ok: false, code: "TIMEOUT" });
  assert.deepEqual(await get(H, "10.231.0.2", 80), { ok: true, data: "hello from 10.231.0.2:80 to 10.231.0.1\n" }, "the host itself (walkd's proxy) may connect in");
});

test("a bad table leaves the one in force as it was; other tables are never touched", async () => {
  await applyTable(host, renderTable(state));
  const before = await H.check("nft", ["list", "table", "inet", "walk"]);
  await assert.rejects(applyTable(host, renderTable({ ...state, allowedCidrs: ["not-a-cidr"] })), /applying walk's nftables table .*failed/s);
  assert.equal(await H.check("nft", ["list", "table", "inet", "walk"]), before);
  const onlyB = renderTable({ ...state, machines: [state.machines[1]!] });
  await applyTable(host, onlyB);
  assert.doesNotMatch(await H.check("nft", ["list", "table", "inet", "walk"]), new RegExp(TAP_A));
  await removeTable(host);
  await removeTable(host);
  assert.equal((await H.check("nft", ["list", "tables"])).trim(), "table ip other");
  assert.match(await H.check("nft", ["list", "table", "ip", "other"]), /counter packets/);
});
