// The QMP client against a scripted QMP server on a Unix socket: the handshake, events skipped,
// error replies by class (QEMU answered: never `unavailable`), no listener, a closed connection,
// a silent server and an endless reply line.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isWalkError, type ErrorCode } from "../../lib/index.js";
import { QmpControl, qmpExecute } from "./qmp.js";

interface FakeQmp {
  path: string;
  /** The commands received, in order, with their arguments. */
  received: Array<{ execute: string; arguments?: unknown }>;
  close: () => Promise<void>;
}

/** A QMP server that greets, accepts qmp_capabilities and answers every other command with `reply(cmd)`. */
async function fakeQmp(reply: (cmd: string, sock: Socket) => unknown): Promise<FakeQmp> {
  const dir = await mkdtemp(join(tmpdir(), "walk-qmp-"));
  const path = join(dir, "qmp.sock");
  const received: FakeQmp["received"] = [];
  const server: Server = createServer((sock) => {
    sock.write(JSON.stringify({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 } }, capabilities: [] } }) + "\n");
    let buf = "";
    sock.on("data", (chunk: Buffer) => {
      buf += chunk.toString("utf8");
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const msg = JSON.parse(buf.slice(0, nl)) as { execute: string; arguments?: unknown };
        buf = buf.slice(nl + 1);
        received.push(msg);
        const out = msg.execute === "qmp_capabilities" ? { return: {} } : reply(msg.execute, sock);
        if (out !== undefined) sock.write(JSON.stringify(out) + "\n");
      }
    });
    sock.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    path,
    received,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function rejectsWith(code: ErrorCode, message: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(isWalkError(err, code), `expected WalkError ${code}, got ${String(err)}`);
    assert.match((err as Error).message, message);
    return true;
  };
}

test("a command runs after the capabilities handshake; events in between are skipped; arguments are sent", async () => {
  const qmp = await fakeQmp((cmd, sock) => {
    sock.write(JSON.stringify({ event: "RESUME", timestamp: { seconds: 1, microseconds: 0 } }) + "\n");
    return cmd === "query-status" ? { return: { status: "running", running: true } } : { return: {} };
  });
  const control = new QmpControl(qmp.path, 5000);
  assert.equal(await control.status(), "running");
  await control.ctrlAltDel();
  assert.deepEqual(qmp.received, [
    { execute: "qmp_capabilities" },
    { execute: "query-status" },
    { execute: "qmp_capabilities" },
    { execute: "send-key", arguments: { keys: [{ type: "qcode", data: "ctrl" }, { type: "qcode", data: "alt" }, { type: "qcode", data: "delete" }] } },
  ]);
  await qmp.close();
});

test("QMP error replies map by class and quote QEMU's description; none of them is `unavailable`", async () => {
  const classes: Array<[string, ErrorCode]> = [
    ["CommandNotFound", "unsupported"],
    ["DeviceNotFound", "not_found"],
    ["DeviceNotActive", "conflict"],
    ["KVMMissingCap", "unsupported"],
    ["GenericError", "internal"],
    ["SomethingNew", "internal"],
  ];
  for (const [cls, code] of classes) {
    const qmp = await fakeQmp(() => ({ error: { class: cls, desc: `refused by ${cls}` } }));
    await assert.rejects(qmpExecute(qmp.path, "cont"), rejectsWith(code, new RegExp(`QEMU refused QMP cont on .*qmp\\.sock: ${cls}: refused by ${cls}`)));
    await qmp.close();
  }
});

test("no listener and a connection QEMU closes are `unavailable`; a silent QEMU is `timeout`", async () => {
  const dir = await mkdtemp(join(tmpdir(), "walk-qmp-"));
  await assert.rejects(qmpExecute(join(dir, "none.sock"), "query-status"), rejectsWith("unavailable", /QMP query-status on .*none\.sock: .*ENOENT/));
  await rm(dir, { recursive: true, force: true });

  const closing = await fakeQmp((_cmd, sock) => void sock.destroy());
  await assert.rejects(qmpExecute(closing.path, "query-status"), rejectsWith("unavailable", /QEMU closed the connection during the command step/));
  await closing.close();

  const silent = await fakeQmp(() => undefined);
  await assert.rejects(qmpExecute(silent.path, "query-status", undefined, 200), rejectsWith("timeout", /no reply within 200 ms/));
  await silent.close();
});

test("a reply line longer than the bound is dropped, not buffered: the command times out", async () => {
  const qmp = await fakeQmp((_cmd, sock) => {
    sock.write(`{"return": "${"x".repeat(80 * 1024)}"}\n`);
    return undefined;
  });
  await assert.rejects(qmpExecute(qmp.path, "query-name", undefined, 500), rejectsWith("timeout", /query-name .*no reply within 500 ms/));
  await qmp.close();
});
