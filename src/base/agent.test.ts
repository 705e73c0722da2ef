// The agent listener with plain socket clients standing in for QEMU: one connection at a time, a
// replacement accepted once the previous one closed (a restore), fresh line state per connection,
// stop requests to the current guest, and a flooding guest cut off for good.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AgentChannel } from "./agent.js";

/** A client connection, with everything the host sends it and a promise of its close. */
async function guest(path: string): Promise<{ sock: Socket; got: () => string; closed: Promise<void> }> {
  const sock = connect(path);
  let got = "";
  sock.on("data", (c: Buffer) => (got += c.toString("utf8")));
  sock.on("error", () => undefined);
  const closed = new Promise<void>((resolve) => sock.on("close", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("error", reject);
  });
  return { sock, got: () => got, closed };
}

/** Waits (bounded) until `cond` holds, one channel event at a time. */
async function until(agent: AgentChannel, what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !cond(); i++) await agent.nextEvent(50);
  assert.ok(cond(), `timed out waiting for ${what}`);
}

async function withChannel(fn: (agent: AgentChannel, path: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "walk-agent-"));
  const path = join(dir, "agent.sock");
  const agent = await AgentChannel.listen(path);
  try {
    await fn(agent, path);
  } finally {
    await agent.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test("a second connection while the first is open is closed; after the first closes a replacement is accepted", async () => {
  await withChannel(async (agent, path) => {
    const first = await guest(path);
    await until(agent, "the first connection", () => agent.connected);
    first.sock.write("WALK-STARTED v1\nWALK-STAT");
    await until(agent, "WALK-STARTED", () => agent.started !== undefined);
    const startedAt = agent.started;

    const intruder = await guest(path);
    await intruder.closed;
    assert.equal(agent.connected, true, "the first connection is still the channel's");
    assert.equal(agent.requestStop(), true);
    await until(agent, "the stop request", () => first.got() === "stop\n");
    assert.equal(intruder.got(), "", "the refused connection was sent nothing");

    // The first VMM goes away mid-line; its restored successor connects to the same listener.
    first.sock.destroy();
    await until(agent, "the close", () => !agent.connected);
    assert.equal(agent.requestStop(), false, "no guest to ask");
    const second = await guest(path);
    await until(agent, "the replacement", () => agent.connected);
    assert.equal(agent.started, startedAt, "a restored guest does not resend WALK-STARTED: the time stays");
    // "US v1 exit=1" would complete the first connection's half line: it must not.
    second.sock.write("US v1 exit=1\nWALK-STATUS v1 exit=7\nWALK-STATUS v1 exit=8\n");
    await until(agent, "the status", () => agent.status !== undefined);
    assert.deepEqual(agent.status, { kind: "exit", code: 7 }, "the first whole status line of the new stream, nothing joined across connections");
    assert.equal(agent.requestStop(), true);
    await until(agent, "the stop request", () => second.got() === "stop\n");
    second.sock.destroy();
  });
});

test("a connection after a finished run starts with no status; a new boot's WALK-STARTED moves the time", async () => {
  await withChannel(async (agent, path) => {
    const run1 = await guest(path);
    run1.sock.write("WALK-STARTED v1\nWALK-STATUS v1 exit=0\n");
    await until(agent, "the first status", () => agent.status !== undefined);
    const firstStart = agent.started!;
    run1.sock.end();
    await until(agent, "the close", () => !agent.connected);
    assert.deepEqual(agent.status, { kind: "exit", code: 0 }, "kept after its connection closed");

    const run2 = await guest(path);
    await until(agent, "the next connection", () => agent.connected);
    assert.equal(agent.status, undefined, "the previous run's status is not the new guest's");
    await new Promise((r) => setTimeout(r, 5));
    run2.sock.write("WALK-STARTED v1\n");
    await until(agent, "the new start", () => agent.started !== firstStart);
    assert.ok(agent.started! > firstStart);
    run2.sock.destroy();
  });
});

test("a guest writing more than 64 KiB is cut off, and its reconnections are refused", async () => {
  await withChannel(async (agent, path) => {
    const flood = await guest(path);
    flood.sock.write(Buffer.alloc(65 * 1024, 0x78));
    await flood.closed;
    await until(agent, "the cut-off", () => !agent.connected);
    const again = await guest(path);
    await again.closed;
    assert.equal(agent.connected, false);
    assert.equal(agent.status, undefined);
  });
});
