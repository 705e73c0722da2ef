// The VMM as a host process: spawned in its own session (so walkd's signals, terminal and process
// group never reach it and a daemon restart leaves it running), stdout appended to the console
// log, stderr to the VMM log, an empty environment; its exit observed either as walkd's child or,
// after re-attach, by polling /proc. Shared by the backends; knows no VMM protocol.
import { spawn, type ChildProcess } from "node:child_process";
import { promises as fs } from "node:fs";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { WalkError } from "../lib/index.js";
import { isSameProcessAlive, readProcessStat } from "./proc.js";
import type { VmExit } from "./types.js";

export interface VmmProcess {
  pid: number;
  startTime: string;
  /** Settles once the process has exited (never rejects). */
  exited: Promise<VmExit>;
  /** The exit once known, else undefined. */
  exit(): VmExit | undefined;
  /** SIGKILLs the process if it is still the one started (a no-op once it has exited). */
  kill(): void;
}

const UNKNOWN_EXIT: VmExit = { code: null, signal: null };
const POLL_MS = 100;

/** Spawns `file args`. Resolves once the process exists; rejects (nothing left running) when it cannot be started. */
export async function spawnVmm(file: string, args: string[], consoleLogPath: string, stderrPath: string): Promise<VmmProcess> {
  const out = await fs.open(consoleLogPath, "a", 0o640);
  let err;
  try {
    err = await fs.open(stderrPath, "a", 0o600);
  } catch (e) {
    await out.close();
    throw e;
  }
  let child: ChildProcess;
  let exit: VmExit | undefined;
  let exited: Promise<VmExit>;
  try {
    child = spawn(file, args, { detached: true, stdio: ["ignore", out.fd, err.fd], env: {} });
    // Listen for the exit before anything else awaits: a VMM that fails at once may exit during
    // the awaits below, and an exit nobody heard would leave the machine "starting" forever.
    exited = new Promise<VmExit>((resolve) => {
      child.once("exit", (code, signal) => {
        exit = { code, signal };
        resolve(exit);
      });
    });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
  } catch (e) {
    throw new WalkError("unavailable", `cannot start ${file}: ${(e as Error).message}`, { cause: e });
  } finally {
    await out.close();
    await err.close();
  }
  // walkd may exit while the VM runs on: the child must not keep walkd's event loop alive.
  child.unref();
  const pid = child.pid!;
  const stat = await readProcessStat(pid);
  if (stat === null) {
    // It exited before its start time could be read; report how.
    const e = await exited;
    throw new WalkError("internal", `${file} exited at once (${describeExit(e)}); see ${stderrPath}`, { details: { file } });
  }
  return {
    pid,
    startTime: stat.startTime,
    exited,
    exit: () => exit,
    kill: () => {
      if (exit === undefined) child.kill("SIGKILL");
    },
  };
}

/** Adopts a process walkd did not spawn (or no longer has as a child): pid plus start time. */
export function adoptVmm(pid: number, startTime: string): VmmProcess {
  let exit: VmExit | undefined;
  const exited = (async () => {
    while (await isSameProcessAlive(pid, startTime)) await sleep(POLL_MS, undefined, { ref: false });
    exit = UNKNOWN_EXIT;
    return exit;
  })();
  return {
    pid,
    startTime,
    exited,
    exit: () => exit,
    kill: () => {
      // The pid may have been reused since the last poll; check the start time right before the signal.
      void isSameProcessAlive(pid, startTime).then(
        (alive) => {
          if (alive) signalIgnoringGone(pid);
        },
        () => undefined,
      );
    },
  };
}

function signalIgnoringGone(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch (err) {
    // Gone between the check and the signal: that is what kill wanted.
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

/**
 * Waits until `path` is a Unix socket that accepts a connection. Fails with `timeout` after
 * `timeoutMs`, or `internal` as soon as the process exits.
 */
export async function waitForSocket(path: string, proc: VmmProcess, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const exit = proc.exit();
    if (exit !== undefined) throw new WalkError("internal", `${what} exited (${describeExit(exit)}) before its socket ${path} accepted connections`);
    if (await acceptsConnections(path)) return;
    if (Date.now() >= deadline) throw new WalkError("timeout", `${what} did not open its socket ${path} within ${timeoutMs} ms`, { details: { path } });
    await Promise.race([sleep(10), proc.exited]);
  }
}

/** True when `path` is a socket (not a symlink to one) and something accepts on it. */
export async function acceptsConnections(path: string): Promise<boolean> {
  try {
    if (!(await fs.lstat(path)).isSocket()) return false;
  } catch {
    return false;
  }
  return new Promise((resolve) => {
    const s = net.connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/**
 * Makes `path` free for a new socket: refuses (`conflict`) when something is serving on it,
 * removes a stale socket, and refuses anything that is not a socket rather than deleting it.
 */
export async function claimSocketPath(path: string, what: string): Promise<void> {
  let st;
  try {
    st = await fs.lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  if (!st.isSocket()) throw new WalkError("conflict", `the ${what} path ${path} exists and is not a socket; walk will not remove it`, { details: { path } });
  if (await acceptsConnections(path)) throw new WalkError("conflict", `the ${what} ${path} is in use by a running process`, { details: { path } });
  await fs.rm(path, { force: true });
}

/** Removes a socket file if `path` is one (never a file or directory someone put there). */
export async function removeSocket(path: string): Promise<void> {
  try {
    if ((await fs.lstat(path)).isSocket()) await fs.rm(path, { force: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

/** The last `bytes` bytes of a log file, for error messages; empty when unreadable. */
export async function tailOf(path: string, bytes = 1024): Promise<string> {
  try {
    const fh = await fs.open(path, "r");
    try {
      const { size } = await fh.stat();
      const len = Math.min(size, bytes);
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, size - len);
      return buf.toString("utf8").trim();
    } finally {
      await fh.close();
    }
  } catch {
    return "";
  }
}

export function describeExit(e: VmExit): string {
  if (e.signal) return `killed by ${e.signal}`;
  if (e.code !== null) return `exit code ${e.code}`;
  return "exit status unknown";
}

/**
 * Awaits `p` while holding the event loop open. The VMM child is unref'd so walkd can exit while
 * VMs run on, but a caller that is waiting for a VM to exit wants to be there when it does.
 */
export async function keepingAlive<T>(p: Promise<T>): Promise<T> {
  const hold = setInterval(() => undefined, 1 << 30);
  try {
    return await p;
  } finally {
    clearInterval(hold);
  }
}
