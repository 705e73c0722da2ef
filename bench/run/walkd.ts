// The walkd the machines benchmark talks to: the compiled daemon as its own process (so its
// memory and CPU are its own, not the bench's), on a temp data and runtime dir, with the QEMU
// backend under TCG, machines without a NIC by default, otherwise default settings. It runs in a
// network namespace of its own (`unshare --net`, which execs it: same pid): walkd's network
// reconcile at start rewrites walk's nft table and removes walk links it does not own, which on
// the host would disturb any other walkd running there. The API is a Unix socket, which works
// across namespaces. It runs with bench/run/gc-probe.js preloaded, so memory() measures live memory
// after a full GC. Starting and stopping are bounded; stopping walkd leaves VMMs running by
// design, so removing machines is the caller's job.
import { spawn, type ChildProcess } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { WalkClient } from "../../src/cli/client.js";

const WALKD = fileURLToPath(new URL("../../src/daemon/main.js", import.meta.url));
const GC_PROBE = new URL("./gc-probe.js", import.meta.url).href;

/** walkd's memory right after a full GC: node's own accounting, and the kernel's VmRSS. */
export interface DaemonMemory {
  heapUsed: number;
  external: number;
  rss: number;
}

export interface BenchDaemon {
  pid: number;
  socketPath: string;
  dataDir: string;
  client: WalkClient;
  /** The end of walkd's log (stderr and stdout), for error messages. */
  logTail(): Promise<string>;
  /** A full GC in walkd (gc-probe.ts), then its memory; bounded. */
  memory(timeoutMs?: number): Promise<DaemonMemory>;
  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves once the process is gone. */
  stop(timeoutMs?: number): Promise<void>;
}

function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), timeoutMs);
    child.once("exit", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

export async function startWalkd(dir: string, readyTimeoutMs = 30_000): Promise<BenchDaemon> {
  const dataDir = join(dir, "data");
  const runtimeDir = join(dir, "run");
  const config = join(dir, "walkd.toml");
  const log = join(dir, "walkd.log");
  await writeFile(config, '[machines]\nbackend = "qemu"\nnetwork = "none"\n\n[qemu]\naccel = "tcg"\n');
  const fd = openSync(log, "a");
  // Its own process group: a Ctrl-C on the bench reaches the bench, which removes the machines
  // through this walkd before stopping it.
  const memFile = join(dir, "walkd-mem.json");
  const child = spawn("unshare", ["--net", process.execPath, "--expose-gc", "--import", GC_PROBE, WALKD, "--config", config, "--data-dir", dataDir, "--runtime-dir", runtimeDir, "--log-level", "warn"], {
    stdio: ["ignore", fd, fd],
    env: { ...process.env, WALK_BENCH_MEM_FILE: memFile },
    detached: true,
  });
  closeSync(fd);
  child.on("error", () => undefined);
  if (child.pid === undefined) throw new Error(`cannot spawn ${process.execPath} ${WALKD}`);
  const pid = child.pid;
  const socketPath = join(runtimeDir, "walkd.sock");
  const client = new WalkClient({ kind: "unix", path: socketPath });
  const logTail = async (): Promise<string> => (await readFile(log, "utf8").catch(() => "")).slice(-4000);
  const stop = async (timeoutMs = 15_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    if (await exited(child, timeoutMs)) return;
    child.kill("SIGKILL");
    await exited(child, 5_000);
  };
  const memory = async (timeoutMs = 10_000): Promise<DaemonMemory> => {
    await rm(memFile, { force: true });
    process.kill(pid, "SIGUSR2");
    const until = Date.now() + timeoutMs;
    for (;;) {
      const text = await readFile(memFile, "utf8").catch(() => undefined);
      if (text !== undefined) {
        const m = JSON.parse(text) as NodeJS.MemoryUsage;
        return { heapUsed: m.heapUsed, external: m.external, rss: m.rss };
      }
      if (Date.now() > until) throw new Error(`walkd did not report its memory within ${timeoutMs} ms`);
      await sleep(20);
    }
  };
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`walkd exited with ${child.exitCode} while starting:\n${await logTail()}`);
    if (await client.version().then(() => true, () => false)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`walkd did not answer on ${socketPath} within ${readyTimeoutMs} ms:\n${await logTail()}`);
    }
    await sleep(100);
  }
  return { pid, socketPath, dataDir, client, logTail, memory, stop };
}
