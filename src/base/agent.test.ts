// The agent listener with plain socket clients standing in for QEMU: one connection at a time, a
// replacement accepted once the previous one closed (a restore), fresh line state per connection,
// stop requests to the current guest, a flooding guest cut off for good, and the refresh of a
// restored guest with every way its answer can fail to come.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isWalkError } from "../lib/errors.js";
import { AgentChannel } from "./agent.js";
import { rejectsWith } from "../../test/harness/assert.js";

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

const REFRESH_LINE = /^refresh (\d{1,10})\.(\d{9}) ([0-9a-f]{128})\n$/;

/** A guest that answers each refresh line it receives with `answer` (nothing when undefined). */
async function refreshingGuest(path: string, answer: string | undefined): Promise<{ sock: Socket; commands: string[] }> {
  const g = await guest(path);
  const commands: string[] = [];
  let buf = "";
  g.sock.on("data", (c: Buffer) => {
    buf += c.toString("utf8");
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      commands.push(buf.slice(0, nl + 1));
      buf = buf.slice(nl + 1);
      if (answer !== undefined) g.sock.write(answer);
    }
  });
  return { sock: g.sock, commands };
}

test("refresh sends the host's time and 64 fresh random bytes and resolves on the init's confirmation", async () => {
  await withChannel(async (agent, path) => {
    const g = await refreshingGuest(path, "WALK-INIT v2\nWALK-REFRESHED v2 time=ok seed=ok\n");
    const before = Date.now();
    await agent.refresh(5000);
    const m = REFRESH_LINE.exec(g.commands[0] ?? "");
    assert.ok(m, `the command has the contract's form: ${JSON.stringify(g.commands[0])}`);
    const sentMs = Number(m[1]) * 1000 + Number(m[2]) / 1e6;
    assert.ok(sentMs >= before - 1 && sentMs <= Date.now(), "the host's clock at sending");
    assert.equal(agent.contract, 2);
    // The next restore's guest gets other bytes.
    g.sock.destroy();
    await until(agent, "the close", () => !agent.connected);
    const g2 = await refreshingGuest(path, "WALK-REFRESHED v2 time=ok seed=ok\n");
    await agent.refresh(5000);
    assert.notEqual(REFRESH_LINE.exec(g2.commands[0]!)![3], m[3], "fresh entropy each time");
    g2.sock.destroy();
  });
});

test("refresh waits, within its bound, for the restored VMM to connect", async () => {
  await withChannel(async (agent, path) => {
    const done = agent.refresh(5000);
    await new Promise((r) => setTimeout(r, 50));
    const g = await refreshingGuest(path, "WALK-REFRESHED v2 time=ok seed=ok\n");
    await done;
    assert.equal(g.commands.length, 1);
    g.sock.destroy();
  });
  await withChannel(async (agent) => {
    await rejectsWith(agent.refresh(100), "timeout", /agent channel did not connect within 100 ms/);
  });
});

test("refresh fails clearly when the answer does not come, comes early, refuses, reports a failure, or the guest leaves", async () => {
  await withChannel(async (agent, path) => {
    // An init before contract 2 ignores the line.
    let g = await refreshingGuest(path, undefined);
    await until(agent, "the connection", () => agent.connected);
    await rejectsWith(agent.refresh(200), "timeout", /did not answer the refresh within 200 ms \(an init older than contract 2/);
    g.sock.destroy();
    await until(agent, "the close", () => !agent.connected);

    // An answer written before the command was sent is not an answer to it.
    g = await refreshingGuest(path, undefined);
    g.sock.write("WALK-REFRESHED v2 time=ok seed=ok\n");
    await until(agent, "the early line", () => agent.connected);
    await new Promise((r) => setTimeout(r, 50));
    await rejectsWith(agent.refresh(200), "timeout", /did not answer/);
    g.sock.destroy();
    await until(agent, "the close", () => !agent.connected);

    g = await refreshingGuest(path, "WALK-REJECTED v2 unknown command\n");
    await rejectsWith(agent.refresh(5000), "unsupported", /refused the refresh: unknown command/);
    g.sock.destroy();
    await until(agent, "the close", () => !agent.connected);

    g = await refreshingGuest(path, "WALK-REFRESHED v2 time=failed seed=ok\n");
    await rejectsWith(agent.refresh(5000), "internal", /could not set its clock \(its console/);
    g.sock.destroy();
    await until(agent, "the close", () => !agent.connected);

    g = await refreshingGuest(path, "WALK-REFRESHED v2 time=ok seed=failed\n");
    await rejectsWith(agent.refresh(5000), "internal", /could not reseed its random number generator/);
    g.sock.destroy();
    await until(agent, "the close", () => !agent.connected);

    // A malformed answer is no answer.
    g = await refreshingGuest(path, "WALK-REFRESHED v2 time=ok seed=ok please\n");
    await rejectsWith(agent.refresh(200), "timeout", /did not answer/);
    g.sock.destroy();
    await until(agent, "the close", () => !agent.connected);

    g = await refreshingGuest(path, undefined);
    await until(agent, "the connection", () => agent.connected);
    const pending = agent.refresh(5000);
    await rejectsWith(agent.refresh(5000), "conflict", /already waiting/);
    g.sock.destroy();
    await rejectsWith(pending, "unavailable", /closed before the init answered/);
  });
});

test("a guest that floods instead of answering is cut off and the refresh fails without waiting out its bound", async () => {
  await withChannel(async (agent, path) => {
    const g = await refreshingGuest(path, "x".repeat(70 * 1024));
    const t0 = Date.now();
    await assert.rejects(agent.refresh(10_000), (e: unknown) => isWalkError(e, "unavailable"));
    assert.ok(Date.now() - t0 < 10_000);
    g.sock.destroy();
    await rejectsWith(agent.refresh(1000), "unavailable", /flooded/);
  });
});
