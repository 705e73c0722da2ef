// A machine's console log: the file the VMM appends the guest's serial console to (the
// workload's stdout and stderr), its size cap and rotation, a (time, offset) index for
// `logs --since`, and the guest's exit-status report read out of it with src/base's parser.
//
// The VMM holds the file open with O_APPEND across walkd restarts, so rotation is
// copy-then-truncate: console.log is copied to console.log.1 and truncated; the VMM's next write
// lands at the new end. Bytes the VMM writes between the copy and the truncate are lost (a window
// of one copy of at most the cap). Before each boot walk appends a marker line, so the status of
// a boot is never confused with an earlier boot's.
import { promises as fs } from "node:fs";
import { BoundedLines, MAX_STATUS_LINE, parseStatusLine, type GuestStatus } from "../base/index.js";
import { fsyncDir, publishFile, tempPathFor } from "../lib/index.js";
import type { MachinePaths } from "./paths.js";

export const DEFAULT_CONSOLE_MAX_BYTES = 8 * 1024 * 1024;
/** One index entry per second of console activity at most. */
const INDEX_EVERY_MS = 1000;
const READ_CHUNK = 256 * 1024;
const BOOT_MARKER = /^WALK-HOST-BOOT v1 n=\d+ at=\S+$/;

/** Appends the marker of a new boot, on a line of its own. */
export async function appendBootMarker(paths: MachinePaths, boot: number): Promise<void> {
  await fs.mkdir(paths.dataDir, { recursive: true, mode: 0o700 });
  const fh = await fs.open(paths.consoleLog, "a+", 0o640);
  try {
    const { size } = await fh.stat();
    let newline = "";
    if (size > 0) {
      const last = Buffer.alloc(1);
      await fh.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) newline = "\n";
    }
    await fh.appendFile(`${newline}WALK-HOST-BOOT v1 n=${boot} at=${new Date().toISOString()}\n`);
  } finally {
    await fh.close();
  }
}

/** The last status line of the current boot (after the last boot marker), line by line. */
export class BootStatusScanner {
  private lines = new BoundedLines(MAX_STATUS_LINE);
  private latest: GuestStatus | undefined;

  push(chunk: Uint8Array): void {
    for (const raw of this.lines.push(chunk)) {
      const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
      if (BOOT_MARKER.test(line)) {
        this.latest = undefined;
        continue;
      }
      const s = parseStatusLine(line);
      if (s) this.latest = s;
    }
  }

  get status(): GuestStatus | undefined {
    return this.latest;
  }
}

async function size(path: string): Promise<number> {
  try {
    return (await fs.stat(path)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw e;
  }
}

/** Reads [from, to) of a file in chunks; stops early at EOF. */
async function* readRange(path: string, from: number, to = Number.POSITIVE_INFINITY): AsyncGenerator<Buffer> {
  let fh;
  try {
    fh = await fs.open(path, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  try {
    let pos = from;
    while (pos < to) {
      const buf = Buffer.alloc(Math.min(READ_CHUNK, to - pos));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) return;
      pos += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

/**
 * Follows console.log while the VM runs: feeds the status scanner, writes the index, rotates at
 * the cap. One per running machine, driven by the supervisor's poll.
 */
export class ConsoleTailer {
  private offset = 0;
  private lastIndexAt = 0;
  readonly scanner = new BootStatusScanner();

  private constructor(
    private readonly paths: MachinePaths,
    private readonly maxBytes: number,
  ) {}

  /** Starts at the end of what exists, having scanned it (both files) for the current boot's status. */
  static async open(paths: MachinePaths, maxBytes: number): Promise<ConsoleTailer> {
    const t = new ConsoleTailer(paths, maxBytes);
    for await (const c of readRange(paths.consoleLogOld, 0)) t.scanner.push(c);
    for await (const c of readRange(paths.consoleLog, 0)) {
      t.scanner.push(c);
      t.offset += c.length;
    }
    return t;
  }

  /** Reads what the VMM wrote since the last poll; rotates when over the cap. */
  async poll(): Promise<void> {
    const end = await size(this.paths.consoleLog);
    if (end < this.offset) this.offset = 0; // truncated by someone else: start over
    if (end > this.offset) {
      const now = Date.now();
      if (now - this.lastIndexAt >= INDEX_EVERY_MS) {
        this.lastIndexAt = now;
        await fs.appendFile(this.paths.consoleIndex, `${now} ${this.offset}\n`);
      }
      for await (const c of readRange(this.paths.consoleLog, this.offset, end)) {
        this.scanner.push(c);
        this.offset += c.length;
      }
    }
    if (this.offset > this.maxBytes) await this.rotate();
  }

  private async rotate(): Promise<void> {
    const tmp = tempPathFor(this.paths.consoleLogOld);
    await fs.copyFile(this.paths.consoleLog, tmp);
    // The copy may hold bytes written after the last poll: they must reach the scanner too.
    for await (const c of readRange(tmp, this.offset)) this.scanner.push(c);
    await publishFile(tmp, this.paths.consoleLogOld);
    await fs.truncate(this.paths.consoleLog, 0);
    await fs.rename(this.paths.consoleIndex, this.paths.consoleIndexOld).catch(() => undefined);
    await fsyncDir(this.paths.dataDir);
    this.offset = 0;
    this.lastIndexAt = 0;
  }
}

/** The current boot's status from the files alone (for a VM that ended while walkd was away). */
export async function scanBootStatus(paths: MachinePaths): Promise<GuestStatus | undefined> {
  return (await ConsoleTailer.open(paths, Number.POSITIVE_INFINITY)).scanner.status;
}

/** The last `bytes` bytes of the console, for error messages. */
export async function consoleTail(paths: MachinePaths, bytes = 600): Promise<string> {
  const end = await size(paths.consoleLog);
  const chunks: Buffer[] = [];
  for await (const c of readRange(paths.consoleLog, Math.max(0, end - bytes), end)) chunks.push(c);
  return Buffer.concat(chunks).toString("utf8").replace(/\r\n/g, "\n").trim();
}

async function indexEntries(path: string): Promise<{ at: number; offset: number }[]> {
  const text = await fs.readFile(path, "utf8").catch(() => "");
  return text
    .split("\n")
    .map((l) => /^(\d+) (\d+)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ at: Number(m[1]), offset: Number(m[2]) }));
}

/** Where `logs --since` starts: the file and offset of the first output walk saw at or after `sinceMs`. */
async function startFor(paths: MachinePaths, sinceMs: number | undefined): Promise<{ old: number | null; current: number }> {
  if (sinceMs === undefined) return { old: 0, current: 0 };
  const inOld = (await indexEntries(paths.consoleIndexOld)).find((e) => e.at >= sinceMs);
  if (inOld) return { old: inOld.offset, current: 0 };
  const inCurrent = (await indexEntries(paths.consoleIndex)).find((e) => e.at >= sinceMs);
  return { old: null, current: inCurrent ? inCurrent.offset : await size(paths.consoleLog) };
}

export interface ReadLogsOptions {
  sinceMs?: number;
  follow?: boolean;
  /** While true, a follower keeps waiting for output; once false it drains and ends. */
  live?: () => boolean;
  signal?: AbortSignal;
  pollMs?: number;
}

/** The console as the user sees it (protocol lines removed, CRLF as LF), optionally followed. */
export async function* readLogs(paths: MachinePaths, opts: ReadLogsOptions = {}): AsyncGenerator<Buffer> {
  const filter = new ConsoleFilter();
  const start = await startFor(paths, opts.sinceMs);
  const out = (b: Buffer): Buffer | undefined => {
    const f = filter.push(b);
    return f.length > 0 ? f : undefined;
  };
  if (start.old !== null) {
    for await (const c of readRange(paths.consoleLogOld, start.old)) {
      const f = out(c);
      if (f) yield f;
    }
  }
  let offset = start.current;
  for (;;) {
    if (opts.signal?.aborted) return;
    const live = opts.follow === true && (opts.live?.() ?? false);
    const end = await size(paths.consoleLog);
    if (end < offset) {
      // Rotated under us: the rest of what we were reading is now in console.log.1.
      for await (const c of readRange(paths.consoleLogOld, offset)) {
        const f = out(c);
        if (f) yield f;
      }
      offset = 0;
      continue;
    }
    for await (const c of readRange(paths.consoleLog, offset, end)) {
      offset += c.length;
      const f = out(c);
      if (f) yield f;
    }
    if (!live) break;
    await new Promise<void>((resolve) => {
      // The listener goes with each poll: a follow that lasts hours must not pile them up.
      const onAbort = (): void => {
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(() => {
        opts.signal?.removeEventListener("abort", onAbort);
        resolve();
      }, opts.pollMs ?? 200);
      opts.signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
  const rest = filter.end();
  if (rest.length > 0) yield rest;
}

const PROTOCOL_PREFIXES = ["WALK-STATUS v1 ", "WALK-STARTED v1", "WALK-HOST-BOOT v1 "];

function mayBeProtocol(partial: string): boolean {
  return partial.length <= MAX_STATUS_LINE && PROTOCOL_PREFIXES.some((p) => p.startsWith(partial) || partial.startsWith(p));
}

function isProtocol(line: string): boolean {
  return line === "WALK-STARTED v1" || BOOT_MARKER.test(line) || parseStatusLine(line) !== undefined;
}

/**
 * Removes walk's protocol lines (the init's status report and walk's boot markers) from console
 * output, with the blank line the init writes before its status, and turns CRLF into LF. The
 * init's status is the last thing of a boot, so what follows it until the next boot marker is the
 * kernel ending the VM ("reboot: Restarting system") and is dropped too. Output that cannot be a
 * protocol line is passed on at once, so a prompt without a newline shows.
 */
export class ConsoleFilter {
  /** After a status line: only a boot marker ends the silence. */
  private ended = false;
  /** The current line, held while it may still turn out to be a protocol line. */
  private held = "";
  /** The current line was already passed through (it cannot be a protocol line). */
  private passing = false;
  private blankLines = 0;
  private pendingCr = false;

  push(chunk: Buffer): Buffer {
    let text = chunk.toString("latin1");
    if (this.pendingCr) text = "\r" + text;
    this.pendingCr = text.endsWith("\r");
    if (this.pendingCr) text = text.slice(0, -1);
    text = text.replace(/\r\n/g, "\n");
    let out = "";
    let start = 0;
    for (;;) {
      const nl = text.indexOf("\n", start);
      const part = text.slice(start, nl < 0 ? text.length : nl);
      if (nl < 0) {
        out += this.partial(part);
        break;
      }
      out += this.line(part);
      start = nl + 1;
    }
    return Buffer.from(out, "latin1");
  }

  /** Flushes what is held at the end of the stream. */
  end(): Buffer {
    const out = this.ended ? "" : "\n".repeat(this.blankLines) + this.held + (this.pendingCr ? "\r" : "");
    this.held = "";
    this.blankLines = 0;
    this.pendingCr = false;
    return Buffer.from(out, "latin1");
  }

  private partial(part: string): string {
    if (this.ended) {
      this.held = (this.held + part).slice(-MAX_STATUS_LINE);
      return "";
    }
    if (this.passing) return part;
    const candidate = this.held + part;
    if (candidate === "") return "";
    if (mayBeProtocol(candidate)) {
      this.held = candidate;
      return "";
    }
    this.passing = true;
    this.held = "";
    return this.flushBlanks() + candidate;
  }

  private line(part: string): string {
    if (this.ended) {
      const line = this.held + part;
      this.held = "";
      if (BOOT_MARKER.test(line)) this.ended = false;
      return "";
    }
    if (this.passing) {
      this.passing = false;
      return part + "\n";
    }
    const line = this.held + part;
    this.held = "";
    if (line === "") {
      this.blankLines++;
      return "";
    }
    if (isProtocol(line)) {
      // The init writes "\n" before its status so it starts a line: that newline is not output.
      if (line.startsWith("WALK-STATUS")) {
        if (this.blankLines > 0) this.blankLines--;
        this.ended = true;
      }
      return this.flushBlanks();
    }
    return this.flushBlanks() + line + "\n";
  }

  private flushBlanks(): string {
    const s = "\n".repeat(this.blankLines);
    this.blankLines = 0;
    return s;
  }
}
