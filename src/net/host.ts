// Runs the host tools src/net needs (ip, nft, sysctl) in the network namespace walk's devices
// live in: walkd's own, or a named one (`ip netns exec NAME ...`, e.g. the Firecracker jailer's).
// Arguments are arrays, never shell strings.
import { WalkError, execFile, type ExecResult } from "../lib/index.js";

const TIMEOUT_MS = 10_000;

export class HostNet {
  /** `netns`: a name from `ip netns list`; undefined runs in walkd's own namespace. */
  constructor(readonly netns?: string) {}

  /** Runs a tool and returns its result whatever its exit status. */
  run(cmd: string, args: readonly string[], input?: string): Promise<ExecResult> {
    const opts = { timeoutMs: TIMEOUT_MS, ...(input === undefined ? {} : { input }) };
    return this.netns === undefined ? execFile(cmd, args, opts) : execFile("ip", ["netns", "exec", this.netns, cmd, ...args], opts);
  }

  /** Runs a tool and throws `what` with the tool's stderr unless it exits 0. */
  async check(what: string, cmd: string, args: readonly string[], input?: string): Promise<string> {
    const r = await this.run(cmd, args, input);
    if (r.code !== 0) {
      const where = this.netns === undefined ? "" : ` (in network namespace ${this.netns})`;
      throw new WalkError("internal", `${what}${where} failed: ${cmd} ${args.join(" ")}: ${r.stderr.trim().slice(0, 2000) || `exit ${r.code}`}`, {
        details: { cmd, args },
      });
    }
    return r.stdout;
  }

  async readSysctl(key: string): Promise<string> {
    return (await this.check(`reading ${key}`, "sysctl", ["-n", key])).trim();
  }

  async writeSysctl(key: string, value: string): Promise<void> {
    await this.check(`setting ${key}=${value}`, "sysctl", ["-q", "-w", `${key}=${value}`]);
  }
}
