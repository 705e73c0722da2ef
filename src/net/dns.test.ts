// The DNS forwarder on loopback, against fake upstreams the test controls.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { DnsForwarder, parseResolvConf, resolveUpstreams } from "./dns.js";
import { dnsAnswer, dnsParseAnswer, dnsQuery, dnsQuestionName } from "./testing.js";

type Behaviour = "answer" | "silent" | "wrong-id";

async function upstream(behaviour: Behaviour, names: Record<string, string>): Promise<{ sock: Socket; port: number; seen: string[] }> {
  const sock = createSocket("udp4");
  const seen: string[] = [];
  sock.on("message", (q, r) => {
    seen.push(dnsQuestionName(q));
    if (behaviour === "silent") return;
    const a = dnsAnswer(q, names[dnsQuestionName(q)]);
    if (behaviour === "wrong-id") a.writeUInt16BE((q.readUInt16BE(0) + 1) & 0xffff, 0);
    sock.send(a, r.port, r.address);
  });
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", r));
  return { sock, port: sock.address().port, seen };
}

function ask(fwd: DnsForwarder, msgs: Buffer[]): Promise<Buffer> {
  return new Promise((resolve) => {
    const c = createSocket("udp4");
    c.once("message", (m) => {
      c.close();
      resolve(m);
    });
    for (const m of msgs) c.send(m, fwd.address.port, "127.0.0.1");
  });
}

const limits = { timeoutMs: 300, maxInFlight: 8 };

test("queries are forwarded and answers relayed; non-queries are ignored", async () => {
  const up = await upstream("answer", { "svc.test.walk": "203.0.113.9" });
  const fwd = await DnsForwarder.open("127.0.0.1", 0, [{ host: "127.0.0.1", port: up.port }], limits);
  try {
    const response = dnsAnswer(dnsQuery(7, "junk.test"), "1.1.1.1"); // QR set: not a query
    const reply = dnsParseAnswer(await ask(fwd, [Buffer.from([1, 2, 3]), response, dnsQuery(0x1234, "svc.test.walk")]));
    assert.deepEqual(reply, { id: 0x1234, rcode: 0, addresses: ["203.0.113.9"] });
    const nx = dnsParseAnswer(await ask(fwd, [dnsQuery(9, "nope.test.walk")]));
    assert.deepEqual(nx, { id: 9, rcode: 3, addresses: [] });
    assert.deepEqual(up.seen, ["svc.test.walk", "nope.test.walk"]);
  } finally {
    await fwd.close();
    up.sock.close();
  }
});

test("a silent upstream falls through to the next; when all fail the guest gets SERVFAIL", async () => {
  const silent = await upstream("silent", {});
  const liar = await upstream("wrong-id", { "a.test": "198.51.100.1" });
  const good = await upstream("answer", { "a.test": "198.51.100.2" });
  const both = await DnsForwarder.open("127.0.0.1", 0, [{ host: "127.0.0.1", port: silent.port }, { host: "127.0.0.1", port: good.port }], limits);
  const bad = await DnsForwarder.open("127.0.0.1", 0, [{ host: "127.0.0.1", port: liar.port }], limits);
  try {
    assert.deepEqual(dnsParseAnswer(await ask(both, [dnsQuery(1, "a.test")])).addresses, ["198.51.100.2"]);
    assert.equal(silent.seen.length, 1);
    const fail = await ask(bad, [dnsQuery(2, "a.test")]);
    assert.deepEqual(dnsParseAnswer(fail), { id: 2, rcode: 2, addresses: [] });
    assert.equal(dnsQuestionName(fail), "a.test");
  } finally {
    await both.close();
    await bad.close();
    for (const u of [silent, liar, good]) u.sock.close();
  }
});

test("the forwarder needs an upstream, and a busy address is a clear error", async () => {
  await assert.rejects(DnsForwarder.open("127.0.0.1", 0, []), /needs at least one upstream/);
  const f = await DnsForwarder.open("127.0.0.1", 0, [{ host: "127.0.0.1", port: 9 }]);
  try {
    await assert.rejects(DnsForwarder.open("127.0.0.1", f.address.port, [{ host: "127.0.0.1", port: 9 }]), (e: Error & { code?: string }) => e.code === "conflict");
  } finally {
    await f.close();
  }
});

test("upstreams come from config, else from resolv.conf's IPv4 nameservers", async () => {
  assert.deepEqual(parseResolvConf("# c\nnameserver 127.0.0.53\nnameserver ::1\noptions edns0\nnameserver 10.0.0.1\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n"), [
    { host: "127.0.0.53", port: 53 },
    { host: "10.0.0.1", port: 53 },
    { host: "1.1.1.1", port: 53 },
  ]);
  assert.deepEqual(await resolveUpstreams(["127.0.0.1:5353"]), [{ host: "127.0.0.1", port: 5353 }]);
  await assert.rejects(resolveUpstreams([], "/nonexistent/resolv.conf"), (e: Error & { code?: string }) => e.code === "unavailable" && /dns_upstreams/.test(e.message));
});
