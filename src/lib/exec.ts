// Running host tools (mkfs, e2fsck, qemu-img, ip, nft ...). Arguments are always an array, never a
// shell string, and the output kept is bounded. A missing tool is an "unavailable" error naming it.
import { spawn } from "node:child_process";
import { WalkError } from "./errors.js";

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  input?: string | Uint8Array;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Maximum bytes kept of each of stdout and stderr; the rest is dropped. */
  maxOutput?: number;
}

/** Runs a command and resolves with its result whatever its exit status. */
export function execFile(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const maxOutput = opts.maxOutput ?? 1 << 20;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    child.stdout.on("data", (c: Buffer) => {
      if (outLen < maxOutput) out.push(c.subarray(0, maxOutput - outLen));
      outLen += c.length;
    });
    child.stderr.on("data", (c: Buffer) => {
      if (errLen < maxOutput) err.push(c.subarray(0, maxOutput - errLen));
      errLen += c.length;
    });
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
    }
    child.on("error", (e: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      if (e.code === "ENOENT") reject(new WalkError("unavailable", `${cmd} is not installed or not on PATH`, { cause: e }));
      else reject(e);
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
    child.stdin.on("error", () => {
      // The child may exit before reading its input; its exit status tells what happened.
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** Runs a command and throws an error with its stderr unless it exits 0. */
export async function execChecked(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await execFile(cmd, args, opts);
  if (r.code !== 0) {
    const why = r.signal ? `was killed by ${r.signal}` : `exited with ${r.code}`;
    throw new WalkError("internal", `${cmd} ${why}: ${r.stderr.trim().slice(0, 2000)}`, { details: { cmd, args } });
  }
  return r;
}
