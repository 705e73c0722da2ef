// Test harness: boots one walk guest under QEMU (microvm, TCG) with the three drives, the agent
// channel and a console log, and returns what the guest reported. Every boot has a hard timeout
// (QEMU pauses rather than exits on some internal errors) and boots in one process run one at a
// time (the machines have 2 cores). The QEMU command line comes from src/base, as in production.
import { spawn } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AgentChannel } from "../../src/base/agent.js";
import { guestCmdline, type GuestParams } from "../../src/base/cmdline.js";
import { qemuArgs } from "../../src/base/qemu.js";
import { hostTscKhz, QmpControl } from "../../src/vm/qemu/index.js";
import { ConsoleStatusScanner, type GuestStatus, type StatusSource } from "../../src/base/status.js";

export interface GuestBase {
  kernel: string;
  rootfs: string;
}

export interface BootOptions {
  base: GuestBase;
  app: string;
  state: string;
  params?: GuestParams;
  /** Raw extra kernel arguments (tests of the init's own validation only). */
  extraCmdline?: string[];
  /** Provide the walk.agent port (default true). */
  agent?: boolean;
  /** Once the workload runs (and, with `when`, once the console shows that text) ask the guest to stop. */
  stop?: { via: "ctrl-alt-del" | "agent"; when?: string };
  /** A -netdev value with id=net0 (e.g. "user,id=net0,restrict=on"). */
  netdev?: string;
  timeoutMs?: number;
}

export interface BootResult {
  /** The agent's status when it gave one, else the console's. */
  status: GuestStatus | undefined;
  source: StatusSource | undefined;
  agentStatus: GuestStatus | undefined;
  consoleStatus: GuestStatus | undefined;
  /** The console, CRLF normalised; only the last 256 KiB when it was longer. */
  console: string;
  consoleBytes: number;
  timedOut: boolean;
  qemu: { code: number | null; signal: NodeJS.Signals | null; stderr: string };
  /** startedMs: QEMU spawn to WALK-STARTED (time to workload); totalMs: spawn to QEMU exit. */
  timings: { startedMs: number | undefined; totalMs: number };
}

const CONSOLE_TAIL = 256 * 1024;
let queue: Promise<unknown> = Promise.resolve();

/** Boots a guest; boots are serialised within a process. */
export function bootGuest(opts: BootOptions): Promise<BootResult> {
  const run = queue.then(() => bootOnce(opts));
  queue = run.catch(() => undefined);
  return run;
}

async function readConsole(path: string): Promise<{ text: string; bytes: number; status: GuestStatus | undefined }> {
  const scanner = new ConsoleStatusScanner();
  let tail = Buffer.alloc(0);
  let bytes = 0;
  try {
    for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
      scanner.push(chunk);
      bytes += chunk.length;
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > CONSOLE_TAIL) tail = tail.subarray(tail.length - CONSOLE_TAIL);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  return { text: tail.toString("utf8").replace(/\r\n/g, "\n"), bytes, status: scanner.status };
}

async function bootOnce(opts: BootOptions): Promise<BootResult> {
  const dir = await mkdtemp(join(tmpdir(), "walk-qemu-"));
  const useAgent = opts.agent ?? true;
  const agent = useAgent ? await AgentChannel.listen(join(dir, "agent.sock")) : undefined;
  try {
    const cmdline = [
      guestCmdline({ tscKhz: hostTscKhz(), ...(useAgent ? { agent: "virtio-console" as const } : {}), ...opts.params }),
      ...(opts.extraCmdline ?? []),
    ].join(" ");
    const consoleLog = join(dir, "console.log");
    const qmpSocket = join(dir, "qmp.sock");
    const args = qemuArgs({
      kernel: opts.base.kernel,
      rootfs: opts.base.rootfs,
      app: opts.app,
      state: opts.state,
      cmdline,
      consoleLog,
      qmpSocket,
      ...(agent ? { agentSocket: agent.path } : {}),
      ...(opts.netdev !== undefined ? { netdev: opts.netdev } : {}),
    });
    const t0 = Date.now();
    const child = spawn("qemu-system-x86_64", args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => {
      if (stderr.length < 8192) stderr += c.toString("utf8");
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? 60_000);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.on("close", (code, signal) => resolve({ code, signal }));
      child.on("error", () => resolve({ code: null, signal: null }));
    });
    let running = true;
    void exited.then(() => {
      running = false;
    });

    if (opts.stop && agent) {
      const stop = opts.stop;
      void (async () => {
        while (running && agent.started === undefined) await agent.nextEvent(100);
        while (running && stop.when !== undefined && !(await readConsole(consoleLog)).text.includes(stop.when)) {
          await new Promise((r) => setTimeout(r, 50));
        }
        if (!running) return;
        if (stop.via === "agent") agent.requestStop();
        else await new QmpControl(qmpSocket, 5000).ctrlAltDel().catch(() => undefined);
      })();
    }
    const qemu = await exited;
    clearTimeout(timer);
    const totalMs = Date.now() - t0;
    // The socket may still hold the last bytes the guest wrote before it rebooted.
    if (agent && agent.connected && agent.status === undefined) await agent.nextEvent(200);
    const cons = await readConsole(consoleLog);
    const agentStatus = agent?.status;
    return {
      status: agentStatus ?? cons.status,
      source: agentStatus ? "agent" : cons.status ? "console" : undefined,
      agentStatus,
      consoleStatus: cons.status,
      console: cons.text,
      consoleBytes: cons.bytes,
      timedOut,
      qemu: { ...qemu, stderr },
      timings: { startedMs: agent?.started !== undefined ? agent.started - t0 : undefined, totalMs },
    };
  } finally {
    await agent?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Builds (or takes from the cache) the guest base with guest/build-all.sh into outDir. A cold
 * cache compiles the kernel (minutes); a warm one takes seconds.
 */
export async function buildTestBase(repoRoot: string, outDir: string): Promise<GuestBase> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn("bash", [join(repoRoot, "guest/build-all.sh"), outDir], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (c: Buffer) => {
      err = (err + c.toString("utf8")).slice(-4000);
    });
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`guest/build-all.sh exited with ${code}:\n${err}`))));
  });
  return { kernel: join(outDir, "vmlinux"), rootfs: join(outDir, "rootfs.ext4") };
}
