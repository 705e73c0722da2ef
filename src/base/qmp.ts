// A minimal QMP client: connect to QEMU's monitor socket, negotiate, run one command. Used to
// deliver ctrl-alt-delete (the same stop request Firecracker's SendCtrlAltDel makes) and to quit.
// Every exchange is bounded in time and size; it must not start or kill processes.
import { connect } from "node:net";
import { WalkError } from "../lib/errors.js";
import { BoundedLines } from "./status.js";

const MAX_REPLY_LINE = 64 * 1024;

/** Runs one QMP command and resolves with its "return" value. */
export function qmpExecute(socketPath: string, command: string, args?: Record<string, unknown>, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    const lines = new BoundedLines(MAX_REPLY_LINE);
    let step = 0; // 0: greeting, 1: capabilities reply, 2: command reply
    const fail = (msg: string, cause?: unknown): void => {
      sock.destroy();
      reject(new WalkError("unavailable", `QMP ${command} on ${socketPath}: ${msg}`, cause === undefined ? undefined : { cause }));
    };
    const timer = setTimeout(() => fail(`no reply within ${timeoutMs} ms`), timeoutMs);
    sock.on("error", (e) => {
      clearTimeout(timer);
      fail(e.message, e);
    });
    sock.on("data", (chunk: Buffer) => {
      for (const line of lines.push(chunk)) {
        let msg: { QMP?: unknown; return?: unknown; error?: { desc?: string }; event?: string };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          continue;
        }
        if (msg.event !== undefined) continue;
        if (msg.error) {
          clearTimeout(timer);
          fail(msg.error.desc ?? "error");
          return;
        }
        if (step === 0 && msg.QMP !== undefined) {
          step = 1;
          sock.write(JSON.stringify({ execute: "qmp_capabilities" }) + "\n");
        } else if (step === 1 && "return" in msg) {
          step = 2;
          sock.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) }) + "\n");
        } else if (step === 2 && "return" in msg) {
          clearTimeout(timer);
          sock.end();
          resolve(msg.return);
          return;
        }
      }
    });
  });
}

/** Presses ctrl-alt-delete on the guest's i8042 keyboard; walk-init receives it as SIGINT. */
export async function qmpCtrlAltDel(socketPath: string, timeoutMs?: number): Promise<void> {
  const keys = ["ctrl", "alt", "delete"].map((k) => ({ type: "qcode", data: k }));
  await qmpExecute(socketPath, "send-key", { keys }, timeoutMs);
}
