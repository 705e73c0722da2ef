// ConsoleFilter: protocol lines out, CRLF as LF, split chunks, floods without newlines, and
// output that cannot be a protocol line passed on at once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFile, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BootStatusScanner, ConsoleFilter, ConsoleTailer, appendBootMarker, readLogs } from "./console.js";
import { machinePaths } from "./paths.js";

function run(chunks: string[]): string {
  const f = new ConsoleFilter();
  return chunks.map((c) => f.push(Buffer.from(c, "latin1")).toString("latin1")).join("") + f.end().toString("latin1");
}

test("status, started and boot-marker lines are removed with the init's blank line; the kernel's reboot line after the status too", () => {
  const console = "WALK-HOST-BOOT v1 n=0 at=2026-01-01T00:00:00.000Z\nhello\r\n\r\nWALK-STATUS v1 exit=3\r\nreboot: Restarting system\r\nWALK-HOST-BOOT v1 n=1 at=2026-01-01T00:00:01.000Z\nagain\r\n";
  assert.equal(run([console]), "hello\nagain\n");
  // Byte by byte gives the same.
  assert.equal(run([...console]), "hello\nagain\n");
});

test("lookalike lines that are not valid protocol lines stay, and so do blank lines", () => {
  assert.equal(run(["WALK-STATUS v1 exit=999\n", "\n\nWALK-STARTED v2\n", "WALK-\n"]), "WALK-STATUS v1 exit=999\n\n\nWALK-STARTED v2\nWALK-\n");
});

test("output that cannot be a protocol line is passed on before its newline", () => {
  const f = new ConsoleFilter();
  assert.equal(f.push(Buffer.from("Enter name: ")).toString(), "Enter name: ");
  assert.equal(f.push(Buffer.from("x\nWALK")).toString(), "x\n", "a possible protocol prefix at a line start is held");
  assert.equal(f.end().toString(), "WALK");
});

test("a flood without newlines passes through with bounded holding", () => {
  const flood = "x".repeat(100_000);
  assert.equal(run([flood.slice(0, 50_000), flood.slice(50_000)]), flood);
});

test("the status scanner takes the last valid status of the current boot only", () => {
  const s = new BootStatusScanner();
  s.push(Buffer.from("WALK-STATUS v1 exit=1\nWALK-HOST-BOOT v1 n=1 at=x\nforged? WALK-STATUS v1 exit=5\n"));
  assert.equal(s.status, undefined, "the previous boot's status does not count");
  s.push(Buffer.from("WALK-STATUS v1 exit=7\r\n" + "y".repeat(10_000) + "\nWALK-STATUS v1 signal=15\n"));
  assert.deepEqual(s.status, { kind: "signal", signal: 15 });
});

test("rotation is copy-then-truncate at the cap; logs read both files in order; since starts at the index", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "walk-console-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const p = machinePaths(join(dir, "data"), join(dir, "run"), "0".repeat(32));
  await appendBootMarker(p, 0);
  const tailer = await ConsoleTailer.open(p, 4096);
  const lines = Array.from({ length: 200 }, (_, i) => `line ${String(i).padStart(3, "0")} ${"x".repeat(20)}\r\n`);
  await appendFile(p.consoleLog, lines.slice(0, 190).join(""));
  await tailer.poll();
  assert.equal((await stat(p.consoleLog)).size, 0, "truncated in place");
  assert.ok((await stat(p.consoleLogOld)).size > 4096, "the old part is console.log.1");
  // Later output gets a later index entry, which is where `since` starts.
  await new Promise((r) => setTimeout(r, 1100));
  const since = Date.now();
  await appendFile(p.consoleLog, lines.slice(190).join("") + "\r\nWALK-STATUS v1 exit=0\r\n");
  await tailer.poll();
  assert.deepEqual(tailer.scanner.status, { kind: "exit", code: 0 });
  const all = async (o: Parameters<typeof readLogs>[1]): Promise<string> => {
    let s = "";
    for await (const c of readLogs(p, o)) s += c.toString("latin1");
    return s;
  };
  assert.equal(await all({}), lines.join("").replace(/\r\n/g, "\n"));
  assert.equal(await all({ sinceMs: since }), lines.slice(190).join("").replace(/\r\n/g, "\n"));
  assert.equal(await all({ sinceMs: Date.now() + 60_000 }), "", "nothing after a future time");
  await writeFile(p.consoleIndex, "garbage\n");
  assert.equal(await all({ sinceMs: since }), "", "an unreadable index means nothing is known to be newer in console.log");
});
