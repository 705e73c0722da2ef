// walk's QMP client: one command per connection (greeting, `qmp_capabilities`, the command, its
// reply), because QEMU's QMP socket serves one client at a time and the driver must never hold it
// open. Plus the typed commands the QEMU driver sends. Every exchange is bounded in time and
// reply size; this module never starts or signals processes.
import { connect } from "node:net";
import { BoundedLines } from "../../base/index.js";
import { WalkError, type ErrorCode } from "../../lib/index.js";

const MAX_REPLY_LINE = 64 * 1024;
const DEFAULT_TIMEOUT_MS = 5000;

/**
 * QMP error classes (QAPI QapiErrorClass) as walk error codes. QEMU was reached and refused the
 * command: not `unavailable`. GenericError is also QEMU's class for a wrong state (e.g. `cont`
 * during an incoming migration) and for arguments walk should never send: `internal`.
 */
const ERROR_CLASSES: Record<string, ErrorCode> = {
  CommandNotFound: "unsupported",
  KVMMissingCap: "unsupported",
  DeviceNotFound: "not_found",
  DeviceNotActive: "conflict",
};

/** Runs one QMP command on `socketPath` and resolves with its "return" value. */
export function qmpExecute(socketPath: string, command: string, args?: Record<string, unknown>, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    const lines = new BoundedLines(MAX_REPLY_LINE);
    let step: "greeting" | "capabilities" | "command" = "greeting";
    let settled = false;
    const finish = (err: WalkError | undefined, value?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        sock.destroy();
        reject(err);
      } else {
        sock.end();
        resolve(value);
      }
    };
    const transport = (code: ErrorCode, msg: string, cause?: unknown): void =>
      finish(new WalkError(code, `QMP ${command} on ${socketPath}: ${msg}`, { ...(cause === undefined ? {} : { cause }), details: { command, socket: socketPath } }));
    const timer = setTimeout(() => transport("timeout", `no reply within ${timeoutMs} ms`), timeoutMs);
    sock.on("error", (e) => transport("unavailable", e.message, e));
    sock.on("close", () => transport("unavailable", `QEMU closed the connection during the ${step} step`));
    sock.on("data", (chunk: Buffer) => {
      for (const line of lines.push(chunk)) {
        let msg: { QMP?: unknown; return?: unknown; error?: { class?: unknown; desc?: unknown }; event?: unknown };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          continue;
        }
        if (msg === null || typeof msg !== "object" || msg.event !== undefined) continue;
        if (msg.error !== undefined) {
          const cls = typeof msg.error?.class === "string" ? msg.error.class : "GenericError";
          const desc = typeof msg.error?.desc === "string" ? msg.error.desc.slice(0, 2000) : "no description";
          const what = step === "command" ? command : "qmp_capabilities";
          finish(new WalkError(ERROR_CLASSES[cls] ?? "internal", `QEMU refused QMP ${what} on ${socketPath}: ${cls}: ${desc}`, { details: { command: what, socket: socketPath, class: cls } }));
          return;
        }
        if (step === "greeting" && msg.QMP !== undefined) {
          step = "capabilities";
          sock.write(JSON.stringify({ execute: "qmp_capabilities" }) + "\n");
        } else if (step === "capabilities" && "return" in msg) {
          step = "command";
          sock.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) }) + "\n");
        } else if (step === "command" && "return" in msg) {
          finish(undefined, msg.return);
          return;
        }
      }
    });
  });
}

/** QEMU run states (QAPI RunState) the driver distinguishes. */
export type QemuRunState = "running" | "paused" | "prelaunch" | "inmigrate" | "postmigrate" | (string & {});

/** The commands the driver sends to one QEMU, each bounded by the machine's request timeout. */
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

  /**
   * Ctrl-Alt-Del on the i8042 (the same stop request as Firecracker's SendCtrlAltDel): walk-init
   * receives it as SIGINT (it disabled the kernel's CAD reboot).
   */
  async ctrlAltDel(): Promise<void> {
    await this.execute("send-key", { keys: ["ctrl", "alt", "delete"].map((k) => ({ type: "qcode", data: k })) });
  }
}
