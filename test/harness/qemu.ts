// Test harness: boots one walk guest through the production QEMU driver (src/vm/qemu, microvm
// under TCG) with the three drives, the agent channel and a console log, and returns what the
// guest reported; builds that guest's spec for tests that drive the VM themselves. Every boot has a hard timeout (QEMU pauses rather than exits on some internal
// errors) and boots in one process run one at a time (the machines have 2 cores). It knows no
// QEMU command line or QMP of its own.
import { spawn } from "node:child_process";
import { constants as fsConstants, createReadStream } from "node:fs";
import { access, mkdtemp, rm, writeFile } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { tmpdir } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { AgentChannel } from "../../src/base/agent.js";
import { guestCmdline, type GuestParams } from "../../src/base/cmdline.js";
import { ConsoleStatusScanner, type GuestStatus, type StatusSource } from "../../src/base/status.js";
import { tailOf } from "../../src/vm/process.js";
import { QemuDriver, qemuLayout } from "../../src/vm/qemu/index.js";
import type { MachineSpec, NetworkSpec, VmExit, VmHandle } from "../../src/vm/types.js";

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
  /**
   * The guest's eth0 (spec.network): a tap the caller made, with the MAC the guest gets (default
   * ISOLATED_MAC), or "isolated": QEMU creates its tap in a network namespace of its own that
   * nothing else is in, so the guest reaches nothing.
   */
  network?: { tap: string; mac?: string } | "isolated";
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
  /** How QEMU exited, and the end of its stderr (the driver's qemu.log). */
  qemu: VmExit & { stderr: string };
  /** startedMs: driver start (spawn) to WALK-STARTED (time to workload); totalMs: to QEMU exit. */
  timings: { startedMs: number | undefined; totalMs: number };
}

/** The MAC of a guest whose network option names none. */
export const ISOLATED_MAC = "06:00:0a:00:02:0f";
const CONSOLE_TAIL = 256 * 1024;
/** Generous per-step bounds of the driver on a loaded 2-core host; the boot's timeout bounds them all. */
const DRIVER_TIMEOUTS = { socketMs: 30_000, requestMs: 20_000 };
let queue: Promise<unknown> = Promise.resolve();
let boots = 0;

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

/** `name` looked up on PATH, as a shell would: tests put wrappers there (e.g. QEMU inside a netns). */
async function onPath(name: string): Promise<string> {
  for (const dir of (process.env.PATH ?? "").split(delimiter).filter((d) => d !== "")) {
    const p = join(dir, name);
    if (await access(p, fsConstants.X_OK).then(() => true, () => false)) return p;
  }
  throw new Error(`${name} is not on PATH (${process.env.PATH ?? ""})`);
}

/** The QEMU the driver runs: the one on PATH, for "isolated" behind `unshare --net` (which execs it: same pid). */
async function qemuBinary(dir: string, isolated: boolean): Promise<string> {
  const qemu = await onPath("qemu-system-x86_64");
  if (!isolated) return qemu;
  const wrapper = join(dir, "qemu-isolated");
  await writeFile(wrapper, `#!/bin/sh\nexec ${await onPath("unshare")} --net ${qemu} "$@"\n`, { mode: 0o755 });
  return wrapper;
}

function networkOf(opt: BootOptions["network"]): NetworkSpec | undefined {
  if (opt === undefined) return undefined;
  // Alone in its namespace, the tap's name cannot clash with anything.
  if (opt === "isolated") return { tap: "walk0", mac: ISOLATED_MAC };
  return { tap: opt.tap, mac: opt.mac ?? ISOLATED_MAC };
}

/**
 * A walk guest's spec for the QEMU driver under TCG: the base rootfs as vda (the root), the app
 * disk as vdb and the state disk as vdc, one vCPU, the console log and the VMM's runtime dir in
 * `dir`, and driver bounds for a loaded 2-core host. `bootArgs` need no tsc_early_khz: the driver
 * adds it under TCG.
 */
export function guestSpec(o: { id: string; base: GuestBase; app: string; state: string; dir: string; bootArgs: string; memMib?: number; agentChannel?: string; network?: NetworkSpec }): MachineSpec {
  return {
    id: o.id,
    kernelPath: o.base.kernel,
    bootArgs: o.bootArgs,
    drives: [
      { id: "vda", path: o.base.rootfs, readOnly: true, root: true },
      { id: "vdb", path: o.app, readOnly: true },
      { id: "vdc", path: o.state, readOnly: false },
    ],
    vcpus: 1,
    memMib: o.memMib ?? 128,
    ...(o.network ? { network: o.network } : {}),
    consoleLogPath: join(o.dir, "console.log"),
    ...(o.agentChannel !== undefined ? { agentChannel: o.agentChannel } : {}),
    runtimeDir: join(o.dir, "run"),
    timeouts: { ...DRIVER_TIMEOUTS },
  };
}

async function bootOnce(opts: BootOptions): Promise<BootResult> {
  const dir = await mkdtemp(join(tmpdir(), "walk-qemu-"));
  const useAgent = opts.agent ?? true;
  const agent = useAgent ? await AgentChannel.listen(join(dir, "agent.sock")) : undefined;
  try {
    const network = networkOf(opts.network);
    const spec = guestSpec({
      id: `harness-${process.pid}-${++boots}`,
      base: opts.base,
      app: opts.app,
      state: opts.state,
      dir,
      bootArgs: [guestCmdline({ ...(useAgent ? { agent: "virtio-console" as const } : {}), ...opts.params }), ...(opts.extraCmdline ?? [])].join(" "),
      memMib: 256,
      ...(network ? { network } : {}),
      ...(agent ? { agentChannel: agent.path } : {}),
    });
    const vm = new QemuDriver({ qemuPath: await qemuBinary(dir, opts.network === "isolated"), accel: "tcg" }).create(spec);
    const timeoutMs = opts.timeoutMs ?? 60_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void vm.kill();
    }, timeoutMs);
    const t0 = Date.now();
    let exit: VmExit;
    try {
      await vm.start();
      if (opts.stop && agent) void stopWhenRunning(vm, opts.stop, agent, spec.consoleLogPath, timeoutMs);
      // A timeout during start() killed nothing yet if QEMU was not spawned: kill now.
      exit = await (timedOut ? vm.kill() : vm.wait());
    } catch (err) {
      if (!timedOut) throw err;
      exit = await vm.kill();
    } finally {
      clearTimeout(timer);
    }
    const totalMs = Date.now() - t0;
    // The socket may still hold the last bytes the guest wrote before it rebooted.
    if (agent && agent.connected && agent.status === undefined) await agent.nextEvent(200);
    const cons = await readConsole(spec.consoleLogPath);
    const agentStatus = agent?.status;
    return {
      status: agentStatus ?? cons.status,
      source: agentStatus ? "agent" : cons.status ? "console" : undefined,
      agentStatus,
      consoleStatus: cons.status,
      console: cons.text,
      consoleBytes: cons.bytes,
      timedOut,
      qemu: { ...exit, stderr: await tailOf(qemuLayout(spec).log, 8192) },
      timings: { startedMs: agent?.started !== undefined ? agent.started - t0 : undefined, totalMs },
    };
  } finally {
    await agent?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Asks the running guest to stop (the driver's stop(): QMP ctrl-alt-delete; or the agent's `stop`) once it is ready. */
async function stopWhenRunning(vm: VmHandle, stop: NonNullable<BootOptions["stop"]>, agent: AgentChannel, consoleLog: string, timeoutMs: number): Promise<void> {
  const running = (): boolean => vm.state !== "exited";
  while (running() && agent.started === undefined) await agent.nextEvent(100);
  while (running() && stop.when !== undefined && !(await readConsole(consoleLog)).text.includes(stop.when)) await sleep(50);
  if (!running()) return;
  // The boot's own timeout ends a guest that ignores the request: stop() must not kill it earlier.
  if (stop.via === "agent") agent.requestStop();
  else await vm.stop({ timeoutMs }).catch(() => undefined);
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
