// What walk-init says (docs/guest-contract.md): its contract version and "workload running" on the
// agent channel, answers to host commands there (refresh.ts), and the exit status on the agent
// channel (primary: only the init can open that port) and the serial console (fallback: shared
// with the workload's output). Guests are hostile: every line is bounded, malformed lines are
// ignored, and nothing here does more than report what the guest claims about itself.
// Owns parsing only; it must not open sockets or files.
import { parseRefreshAnswer, type RefreshAnswer } from "./refresh.js";

/** The error names walk-init reports, one per failure it can detect before the workload runs. */
export const GUEST_ERRORS = [
  "cmdline",
  "mount",
  "argv_missing",
  "argv_invalid",
  "env_missing",
  "env_invalid",
  "network",
  "setup",
  "user_invalid",
  "user_unknown",
  "group_unknown",
  "credentials",
  "workdir",
  "exec_not_found",
  "exec_not_executable",
  "exec_failed",
  "internal",
] as const;
export type GuestError = (typeof GUEST_ERRORS)[number];

export type GuestStatus =
  | { kind: "exit"; code: number }
  | { kind: "signal"; signal: number }
  | { kind: "error"; error: GuestError; message: string };

/** Where a status was read: the agent channel is authoritative, the console a fallback. */
export type StatusSource = "agent" | "console";

/** Longest protocol line walk-init writes (its messages are capped at 255 bytes). */
export const MAX_STATUS_LINE = 512;

const STATUS_RE = /^WALK-STATUS v1 (?:exit=(\d{1,3})|signal=(\d{1,2})|error=([a-z_]{1,32}) msg=([\x20-\x7e]*))$/;

/** Parses one line (without its newline; a trailing CR is tolerated). Undefined if not a valid status. */
export function parseStatusLine(raw: string): GuestStatus | undefined {
  const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
  if (line.length > MAX_STATUS_LINE) return undefined;
  const m = STATUS_RE.exec(line);
  if (!m) return undefined;
  if (m[1] !== undefined) {
    const code = Number(m[1]);
    return code <= 255 ? { kind: "exit", code } : undefined;
  }
  if (m[2] !== undefined) {
    const signal = Number(m[2]);
    return signal >= 1 && signal <= 64 ? { kind: "signal", signal } : undefined;
  }
  const error = m[3] as GuestError;
  if (!GUEST_ERRORS.includes(error)) return undefined;
  return { kind: "error", error, message: m[4] ?? "" };
}

/** A short human description, e.g. "exited with 42", "killed by signal 9", "user_unknown: ...". */
export function describeStatus(s: GuestStatus): string {
  if (s.kind === "exit") return `exited with ${s.code}`;
  if (s.kind === "signal") return `killed by signal ${s.signal}`;
  return `${s.error}: ${s.message}`;
}

/**
 * Splits a byte stream into lines of at most `max` bytes. An overlong line is dropped whole
 * (up to its newline), so a flood without newlines costs bounded memory and yields nothing.
 */
export class BoundedLines {
  private buf: Buffer[] = [];
  private len = 0;
  private overflow = false;

  constructor(private readonly max: number) {}

  push(chunk: Uint8Array): string[] {
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      this.append(chunk.subarray(start, end));
      if (nl < 0) return lines;
      if (!this.overflow) lines.push(Buffer.concat(this.buf, this.len).toString("latin1"));
      this.buf = [];
      this.len = 0;
      this.overflow = false;
      start = nl + 1;
    }
  }

  private append(part: Uint8Array): void {
    if (this.overflow || part.length === 0) return;
    if (this.len + part.length > this.max) {
      this.overflow = true;
      this.buf = [];
      this.len = 0;
      return;
    }
    this.buf.push(Buffer.from(part));
    this.len += part.length;
  }
}

export type AgentEvent =
  | { type: "hello"; contract: number }
  | { type: "started" }
  | { type: "answer"; answer: RefreshAnswer }
  | { type: "status"; status: GuestStatus };

const HELLO_RE = /^WALK-INIT v([1-9]\d{0,2})$/;

/**
 * Parses what the init writes on the agent channel: `WALK-INIT v<contract>` once it opened the
 * port (inits before contract 2 do not say it), `WALK-STARTED v1` once the workload runs, answers
 * to host commands, then one `WALK-STATUS v1 ...` line. The first status wins; anything after it
 * is ignored.
 */
export class AgentParser {
  private lines = new BoundedLines(MAX_STATUS_LINE);
  private done = false;

  push(chunk: Uint8Array): AgentEvent[] {
    const events: AgentEvent[] = [];
    for (const line of this.lines.push(chunk)) {
      if (this.done) break;
      if (line === "WALK-STARTED v1") {
        events.push({ type: "started" });
        continue;
      }
      const hello = HELLO_RE.exec(line);
      if (hello) {
        events.push({ type: "hello", contract: Number(hello[1]) });
        continue;
      }
      const answer = parseRefreshAnswer(line);
      if (answer) {
        events.push({ type: "answer", answer });
        continue;
      }
      const status = parseStatusLine(line);
      if (status) {
        events.push({ type: "status", status });
        this.done = true;
      }
    }
    return events;
  }
}

/**
 * Scans a console stream for the status line. The init writes it after every other process is
 * dead and the console is drained, so the last valid line is the init's: a workload that prints
 * a forged line earlier is overridden by the real one. The console is trusted only when the
 * agent channel said nothing (an init that never reached its report, or a VMM without a port).
 */
export class ConsoleStatusScanner {
  private lines = new BoundedLines(MAX_STATUS_LINE);
  private latest: GuestStatus | undefined;

  push(chunk: Uint8Array): void {
    for (const line of this.lines.push(chunk)) {
      const status = parseStatusLine(line);
      if (status) this.latest = status;
    }
  }

  get status(): GuestStatus | undefined {
    return this.latest;
  }
}
