// ConsoleFilter: protocol lines out, CRLF as LF, split chunks, floods without newlines, and
// output that cannot be a protocol line passed on at once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BootStatusScanner, ConsoleFilter } from "./console.js";

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
