// The walkd the benchmarks talk to (bench/run's machines, bench/activator's cold path): the
// compiled daemon as its own process (so its memory and CPU are its own, not the bench's), on a
// temp data and runtime dir, with the walkd.toml the bench gives. It runs in a network namespace
// the bench chose, entered by a command that execs walkd (same pid): `unshare --net` for one of its
// own, or `ip netns exec NAME` for one the bench also runs clients in. Never the host's: walkd's
// network reconcile at start rewrites walk's nft table and removes walk links it does not own,
// which on the host would disturb any other walkd running there. The API is a Unix socket, which
// works across namespaces. It runs with bench/run/gc-probe.js preloaded, so memory() measures live
// memory after a full GC. Starting and stopping are bounded; stopping walkd leaves VMMs running by
// design, so close() kills whatever VMM is left on the bench's files.
import { spawn, type ChildProcess } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { WalkClient } from "../../src/cli/client.js";
import { pidsWithArgs } from "./proc.js";

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
  /** stop(), then SIGKILL every VMM still running on files under the bench's dir; bounded. */
  close(): Promise<void>;
}

export interface WalkdOptions {
  /** walkd.toml's text. */
  config: string;
  /** The command that enters walkd's network namespace and execs it, e.g. ["unshare", "--net"]. */
  netns: readonly string[];
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

/** Kills the VMMs whose command line names `dir` (their disks are there) and waits until they are gone. */
async function killVmmsUnder(dir: string, timeoutMs = 10_000): Promise<void> {
  const pids = await pidsWithArgs("qemu-system", dir);
  for (const pid of pids) {
    console.error(`cleanup: killing leftover QEMU ${pid}`);
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone meanwhile.
    }
  }
  const until = Date.now() + timeoutMs;
  while ((await pidsWithArgs("qemu-system", dir)).length > 0 && Date.now() < until) await sleep(50);
}

export async function startWalkd(dir: string, opts: WalkdOptions, readyTimeoutMs = 30_000): Promise<BenchDaemon> {
  const dataDir = join(dir, "data");
  const runtimeDir = join(dir, "run");
  const config = join(dir, "walkd.toml");
  const log = join(dir, "walkd.log");
  await writeFile(config, opts.config);
  const fd = openSync(log, "a");
  // Its own process group: a Ctrl-C on the bench reaches only the bench, which cleans up through
  // this walkd before stopping it.
  const memFile = join(dir, "walkd-mem.json");
  const child = spawn(opts.netns[0]!, [...opts.netns.slice(1), process.execPath, "--expose-gc", "--import", GC_PROBE, WALKD, "--config", config, "--data-dir", dataDir, "--runtime-dir", runtimeDir, "--log-level", "warn"], {
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
  const close = async (): Promise<void> => {
    await stop();
    await killVmmsUnder(dir);
  };
  return { pid, socketPath, dataDir, client, logTail, memory, stop, close };
}
