// The refresh of a restored guest with real boots under QEMU TCG through the production driver and
// walk's own init: malformed host commands on a live guest's agent channel are refused one by one
// and the init serves on; then one snapshot is restored four times, twice with the refresh (the
// guest's clock is the host's, its random bytes differ between the two) and twice without (the
// clock is stale by the time the snapshot waited, and both restores read the same random bytes:
// what the refresh exists to prevent, shown so this test would fail without it). Boots run one
// after another; no timing assertions beyond generous clock tolerances.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { AgentChannel, guestCmdline, refreshCommand } from "../../src/base/index.js";
import type { MachineSpec, SnapshotFiles, VmHandle } from "../../src/vm/index.js";
import { QemuDriver } from "../../src/vm/qemu/index.js";
import { b, makeAppDisk, makeStateDisk } from "../harness/guest-disks.js";
import { buildTestBase, guestSpec } from "../harness/qemu.js";

/** A hard bound on each wait: a TCG guest on a loaded 2-core host, not an expectation. */
const STEP_MS = 90_000;
/** How long the snapshot waits before it is restored: the clock a restore without refresh is behind by. */
const WAIT_S = 8;
/**
 * Early after boot the kernel reseeds its CRNG by itself every uptime/2 seconds; the refresh just
 * before the snapshot restarts that interval. At 40 s of uptime it is 20 s of guest time: far more
 * than from that refresh to the snapshot plus from the restore to the first read (the guest's
 * clock stands still while it is paused), so a restore without refresh reads what the snapshot's
 * CRNG state alone determines. (12 s, a 6 s interval, was once too short in a loaded CI run.)
 */
const UPTIME_S = 40;
const WORKLOAD = [
  `while [ "$(cut -d. -f1 /proc/uptime)" -lt ${UPTIME_S} ]; do sleep 1; done`,
  "echo ready",
  `while :; do echo "t=$(date +%s) r=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n')"; sleep 0.3; done`,
].join("\n");

let dir: string;
let spec: MachineSpec;
const driver = new QemuDriver({ accel: "tcg" });
const live: VmHandle[] = [];
let snapshot: SnapshotFiles | undefined;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "walk-guest-refresh-"));
  const base = await buildTestBase(process.cwd(), join(dir, "base"));
  await makeAppDisk(join(dir, "app.ext4"), { config: { argv: [b("sh"), b("-c"), b(WORKLOAD)], env: [] } });
  await makeStateDisk(join(dir, "state.ext4"));
  spec = guestSpec({ id: "guest-refresh", base, app: join(dir, "app.ext4"), state: join(dir, "state.ext4"), dir, bootArgs: guestCmdline({ agent: "virtio-console" }), agentChannel: join(dir, "run", "agent.sock") });
  await mkdir(spec.runtimeDir, { mode: 0o700 });
});

after(async () => {
  for (const vm of live) await vm.kill();
  await rm(dir, { recursive: true, force: true });
});

async function until<T>(what: string, get: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + STEP_MS;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const consoleText = async (): Promise<string> => (await readFile(spec.consoleLogPath, "utf8").catch(() => "")).replace(/\r\n/g, "\n");

interface Sample {
  /** The guest's `date +%s`. */
  t: number;
  /** 16 bytes of the guest's /dev/urandom, hex. */
  r: string;
}
const samples = (text: string): Sample[] => [...text.matchAll(/^t=(\d+) r=([0-9a-f]{32})$/gm)].map((m) => ({ t: Number(m[1]), r: m[2]! }));

/** The agent socket's host end as raw lines, standing in for walkd to send what walkd never would. */
async function rawAgent(path: string): Promise<{ connected: Promise<void>; send: (s: string | Buffer) => void; next: (match: RegExp) => Promise<string>; close: () => Promise<void> }> {
  const lines: string[] = [];
  let sock: Socket | undefined;
  let buf = "";
  let connected: () => void = () => undefined;
  const connection = new Promise<void>((resolve) => (connected = resolve));
  let connections = 0;
  const server = createServer((s) => {
    sock = s;
    connections++;
    connected();
    s.on("data", (c: Buffer) => {
      buf += c.toString("latin1");
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    s.on("error", () => undefined);
  });
  await rm(path, { force: true });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    connected: connection,
    send: (s) => sock!.write(s),
    // The next line (consumed in order) that matches; lines before it are dropped. A timeout says
    // what the host end saw and the end of the guest's console, so a failure in CI can be read.
    next: async (match) => {
      const skipped: string[] = [];
      try {
        return await until(`a line matching ${match}`, () => {
          while (lines.length > 0) {
            const line = lines.shift()!;
            if (match.test(line)) return line;
            skipped.push(line);
          }
          return undefined;
        });
      } catch (err) {
        const tail = (await consoleText()).split("\n").slice(-15).join("\n");
        throw new Error(`${(err as Error).message}; connections ${connections}, open ${sock !== undefined && !sock.destroyed}, other lines ${JSON.stringify(skipped)}, partial ${JSON.stringify(buf)}; console tail:\n${tail}`);
      }
    },
    close: async () => {
      sock?.destroy();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test("on a live guest: each malformed command is refused with its reason, the init serves on, a valid refresh is confirmed, also after the host end went away and came back", { timeout: 5 * 60_000 }, async (t) => {
  let agent = await rawAgent(spec.agentChannel!);
  t.after(() => agent.close());
  const vm = driver.create(spec);
  live.push(vm);
  await vm.start();
  assert.equal(await agent.next(/^WALK-/), "WALK-INIT v2", "the init says which contract it speaks, first");
  assert.equal(await agent.next(/^WALK-/), "WALK-STARTED v1");
  await until("the workload's first sample", async () => (samples(await consoleText()).length > 0 ? true : undefined));

  const seed = randomBytes(64).toString("hex");
  const refused: Array<[string | Buffer, string]> = [
    ["bogus\n", "unknown command"],
    ["STOP\n", "unknown command"],
    [Buffer.from([0, 0xff, 0x80, 0x1b, 0x5b, 0x32, 0x4a, 0x0a]), "unknown command"],
    [`${"x".repeat(64 * 1024)}\n`, "line too long"],
    [`refresh 0.000000000 ${seed}\n`, "malformed time"],
    [`refresh ${Math.floor(Date.now() / 1000)}.5 ${seed}\n`, "malformed time"],
    [`refresh ${Math.floor(Date.now() / 1000)}.000000000 ${seed.toUpperCase()}\n`, "malformed seed"],
    [`refresh ${Math.floor(Date.now() / 1000)}.000000000 ${seed}${seed}ab\n`, "malformed seed"], // 129 bytes
  ];
  for (const [line, reason] of refused) {
    agent.send(line);
    assert.equal(await agent.next(/^WALK-/), `WALK-REJECTED v2 ${reason}`, JSON.stringify(line.slice(0, 40)));
  }
  // A line split across writes is one line; the guest is still serving and its workload still runs.
  const valid = refreshCommand(Date.now(), randomBytes(64));
  agent.send(valid.slice(0, 20));
  await sleep(100);
  agent.send(valid.slice(20));
  assert.equal(await agent.next(/^WALK-/), "WALK-REFRESHED v2 time=ok seed=ok");
  const before = samples(await consoleText()).length;
  await until("more samples after the commands", async () => (samples(await consoleText()).length > before + 1 ? true : undefined));
  assert.equal(vm.state, "running");

  // walkd restarting: the host end goes away (the port reads as closed) and a new one listens;
  // QEMU reconnects within a second and the init hears the new host.
  await agent.close();
  await sleep(1500);
  agent = await rawAgent(spec.agentChannel!);
  await Promise.race([agent.connected, sleep(STEP_MS).then(() => Promise.reject(new Error("QEMU did not reconnect")))]);
  agent.send(refreshCommand(Date.now(), randomBytes(64)));
  assert.equal(await agent.next(/^WALK-/), "WALK-REFRESHED v2 time=ok seed=ok", "the init reads the port again once the host is back");

  // The setup of the next test: wait for uptime, refresh (which restarts the kernel's own reseed
  // interval), then snapshot at once.
  await until("the workload's ready line", async () => ((await consoleText()).includes("ready\n") ? true : undefined));
  await until("a sample after ready", async () => (samples((await consoleText()).split("ready\n")[1] ?? "").length > 0 ? true : undefined));
  agent.send(refreshCommand(Date.now(), randomBytes(64)));
  assert.equal(await agent.next(/^WALK-/), "WALK-REFRESHED v2 time=ok seed=ok");
  const files = { statePath: join(dir, "snap.state"), memoryPath: join(dir, "snap.mem") };
  await vm.snapshot(files);
  await vm.kill();
  snapshot = files;
});

interface Restored {
  /** Samples whose values were taken after the restore (with refresh: after its confirmation). */
  after: Sample[];
  /** The host's clock, in seconds, when those samples were read. */
  hostS: number;
  /** The host's clock, in seconds, when the refresh was confirmed. */
  refreshedS?: number;
}

/** Restores the snapshot (the driver leaves its files in place), with or without the refresh. */
async function restore(refresh: boolean): Promise<Restored> {
  const agent = await AgentChannel.listen(spec.agentChannel!);
  try {
    const from = (await consoleText()).length;
    const vm = driver.create(spec);
    live.push(vm);
    await vm.start({ restore: snapshot! });
    let start = from;
    let refreshedS: number | undefined;
    if (refresh) {
      await agent.refresh(30_000);
      refreshedS = Date.now() / 1000;
      // The first line printed after the confirmation may hold values read before it: it is skipped below.
      start = (await consoleText()).length;
    }
    const got = await until("three samples after the restore", async () => {
      const s = samples((await consoleText()).slice(start));
      return s.length >= (refresh ? 4 : 3) ? s : undefined;
    });
    const hostS = Date.now() / 1000;
    await vm.kill();
    return { after: refresh ? got.slice(1) : got, hostS, ...(refreshedS !== undefined ? { refreshedS } : {}) };
  } finally {
    await agent.close();
  }
}

test("one snapshot restored four times: with the refresh the clock is current and the random bytes differ; without, the clock is stale and the bytes repeat", { timeout: 5 * 60_000 }, async (t) => {
  assert.ok(snapshot, "the live-guest test took the snapshot");
  const takenS = Date.now() / 1000;
  await sleep(WAIT_S * 1000);
  const withA = await restore(true);
  const withB = await restore(true);
  const withoutA = await restore(false);
  const withoutB = await restore(false);

  // Without the refresh, both restores continue the snapshot's CRNG: the same bytes.
  assert.equal(withoutA.after[0]!.r, withoutB.after[0]!.r, "without a reseed two restores of one snapshot read the same random bytes");
  // ...and the snapshot's clock: behind the host by about the wait.
  for (const r of [withoutA, withoutB]) {
    const behind = r.hostS - r.after[0]!.t;
    assert.ok(behind >= WAIT_S - 2, `without the refresh the guest's clock is stale (${behind.toFixed(1)} s behind the host; the snapshot waited ${WAIT_S} s)`);
    assert.ok(r.after[0]!.t <= takenS + 2, "it resumed from the snapshot's time");
  }

  // With the refresh: every sample after the confirmation is new, and the clock is the host's.
  const seen = new Set([...withoutA.after, ...withoutB.after].map((s) => s.r));
  for (const s of withA.after) assert.ok(!seen.has(s.r), `restore A read ${s.r}, which another restore read too`);
  seen.clear();
  for (const s of withA.after) seen.add(s.r);
  for (const s of withB.after) assert.ok(!seen.has(s.r), `restores A and B both read ${s.r}: the CRNG was not reseeded`);
  for (const r of [withA, withB]) {
    for (const s of r.after) {
      assert.ok(s.t >= Math.floor(r.refreshedS!) - 1 && s.t <= Math.ceil(r.hostS) + 1, `the refreshed guest's clock (${s.t}) is the host's (${r.refreshedS!.toFixed(1)} to ${r.hostS.toFixed(1)})`);
    }
  }
  t.diagnostic(`clock behind the host without the refresh: ${(withoutA.hostS - withoutA.after[0]!.t).toFixed(1)} s; with it: ${(withA.hostS - withA.after[0]!.t).toFixed(1)} s`);
});
