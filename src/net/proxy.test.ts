// The port proxy on loopback only: a relay to a loopback "guest" server, bind errors, close.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { createServer, connect, type AddressInfo, type Server } from "node:net";
import { checkPortsFree, openForwarder } from "./proxy.js";
import type { PublishedPort } from "./ports.js";

function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

async function freePort(): Promise<number> {
  const s = createServer();
  const p = await listen(s);
  await new Promise((r) => s.close(r));
  return p;
}

function request(port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(port, "127.0.0.1");
    let got = "";
    c.on("data", (d: Buffer) => (got += d.toString()));
    c.on("end", () => resolve(got));
    c.on("error", reject);
    c.end(data);
  });
}

const tcp = (hostPort: number, guestPort: number): PublishedPort => ({ hostIp: "127.0.0.1", hostPort, guestPort, protocol: "tcp" });

test("TCP: the proxy relays both ways, half-close included, and close frees the port", async () => {
  const guest = createServer({ allowHalfOpen: true }, (s) => {
    let body = "";
    s.on("data", (d: Buffer) => (body += d.toString()));
    s.on("end", () => s.end(`guest saw ${body.length} bytes: ${body.toUpperCase()}`));
  });
  const guestPort = await listen(guest);
  const hostPort = await freePort();
  const f = await openForwarder(tcp(hostPort, guestPort), "127.0.0.1");
  try {
    assert.equal(await request(hostPort, "hello"), "guest saw 5 bytes: HELLO");
    const big = "x".repeat(300_000);
    assert.equal(await request(hostPort, big), `guest saw 300000 bytes: ${big.toUpperCase()}`);
  } finally {
    await f.close();
    guest.close();
  }
  await checkPortsFree([tcp(hostPort, 1)]);
});

test("TCP: a guest that refuses ends the client's connection", async () => {
  const hostPort = await freePort();
  const closedPort = await freePort();
  const f = await openForwarder(tcp(hostPort, closedPort), "127.0.0.1");
  try {
    assert.equal(await request(hostPort, "x").catch(() => ""), "");
  } finally {
    await f.close();
  }
});

test("a port already in use is a conflict naming it, for TCP and UDP, and nothing stays bound", async () => {
  const busy = createServer();
  const port = await listen(busy);
  try {
    for (const check of [() => openForwarder(tcp(port, 80), "127.0.0.1"), () => checkPortsFree([tcp(port, 80)])]) {
      await assert.rejects(check(), (e: Error & { code?: string }) => e.code === "conflict" && e.message.includes(`host port 127.0.0.1:${port}/tcp is already in use`));
    }
    const u = createSocket("udp4");
    await new Promise<void>((r) => u.bind(0, "127.0.0.1", r));
    const up = u.address().port;
    await assert.rejects(openForwarder({ hostIp: "127.0.0.1", hostPort: up, guestPort: 53, protocol: "udp" }, "127.0.0.1"), (e: Error & { code?: string }) => e.code === "conflict" && e.message.includes(`${up}/udp`));
    u.close();
  } finally {
    busy.close();
  }
});

test("a host address that is not the host's is a clear error", async () => {
  await assert.rejects(
    openForwarder({ hostIp: "192.0.2.77", hostPort: 18081, guestPort: 80, protocol: "tcp" }, "127.0.0.1"),
    (e: Error & { code?: string }) => e.code === "invalid_argument" && /192\.0\.2\.77 is not an address of this host/.test(e.message),
  );
});

test("UDP: datagrams are relayed per client and answers come back to that client", async () => {
  const guest = createSocket("udp4");
  guest.on("message", (m, r) => guest.send(Buffer.from(`echo:${m.toString()}`), r.port, r.address));
  await new Promise<void>((r) => guest.bind(0, "127.0.0.1", r));
  const u = createSocket("udp4");
  await new Promise<void>((r) => u.bind(0, "127.0.0.1", r));
  const hostPort = u.address().port;
  u.close();
  const f = await openForwarder({ hostIp: "127.0.0.1", hostPort, guestPort: guest.address().port, protocol: "udp" }, "127.0.0.1");
  const clients = [createSocket("udp4"), createSocket("udp4")];
  try {
    const replies = await Promise.all(
      clients.map(
        (c, i) =>
          new Promise<string>((resolve) => {
            c.once("message", (m) => resolve(m.toString()));
            c.send(`from${i}`, hostPort, "127.0.0.1");
          }),
      ),
    );
    assert.deepEqual(replies, ["echo:from0", "echo:from1"]);
  } finally {
    for (const c of clients) c.close();
    await f.close();
    guest.close();
  }
});
