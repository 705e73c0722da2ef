// The QMP commands the QEMU driver sends, typed, over src/base's one-command-per-connection client
// (QEMU's QMP socket serves one client at a time, so the driver never holds it open). Every call
// is bounded by the machine's request timeout; this module never starts or signals processes.
import { qmpCtrlAltDel, qmpExecute } from "../../base/index.js";

/** QEMU run states (QAPI RunState) the driver distinguishes. */
export type QemuRunState = "running" | "paused" | "prelaunch" | "inmigrate" | "postmigrate" | (string & {});

export class QmpControl {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs: number,
  ) {}

  execute(command: string, args?: Record<string, unknown>, timeoutMs = this.timeoutMs): Promise<unknown> {
    return qmpExecute(this.socketPath, command, args, timeoutMs);
  }

  /** The VMM's `-name`; undefined when it has none. */
  async name(timeoutMs?: number): Promise<string | undefined> {
    const r = (await this.execute("query-name", undefined, timeoutMs)) as { name?: unknown };
    return typeof r.name === "string" ? r.name : undefined;
  }

  async status(timeoutMs?: number): Promise<QemuRunState> {
    const r = (await this.execute("query-status", undefined, timeoutMs)) as { status?: unknown };
    return typeof r.status === "string" ? r.status : "unknown";
  }

  /** Whether the client socket chardev `label` is connected to its listener (QEMU prefixes "disconnected:" otherwise). */
  async chardevConnected(label: string): Promise<boolean> {
    const list = (await this.execute("query-chardev")) as Array<{ label?: unknown; filename?: unknown }>;
    const dev = Array.isArray(list) ? list.find((c) => c.label === label) : undefined;
    return typeof dev?.filename === "string" && !dev.filename.startsWith("disconnected:");
  }

  stopVcpus(): Promise<unknown> {
    return this.execute("stop");
  }

  cont(): Promise<unknown> {
    return this.execute("cont");
  }

  /** Ctrl-Alt-Del on the i8042: walk-init receives it as SIGINT (it disabled the kernel's CAD reboot). */
  ctrlAltDel(): Promise<void> {
    return qmpCtrlAltDel(this.socketPath, this.timeoutMs);
  }
}
