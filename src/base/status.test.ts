import { test } from "node:test";
import assert from "node:assert/strict";
import { AgentParser, BoundedLines, ConsoleStatusScanner, MAX_STATUS_LINE, describeStatus, parseStatusLine } from "./status.js";

test("parseStatusLine accepts exactly the v1 forms", () => {
  assert.deepEqual(parseStatusLine("WALK-STATUS v1 exit=0"), { kind: "exit", code: 0 });
  assert.deepEqual(parseStatusLine("WALK-STATUS v1 exit=255\r"), { kind: "exit", code: 255 });
  assert.deepEqual(parseStatusLine("WALK-STATUS v1 signal=9"), { kind: "signal", signal: 9 });
  assert.deepEqual(parseStatusLine("WALK-STATUS v1 error=user_unknown msg=user \"x\" is not in /etc/passwd"), {
    kind: "error",
    error: "user_unknown",
    message: 'user "x" is not in /etc/passwd',
  });
  assert.deepEqual(parseStatusLine("WALK-STATUS v1 error=mount msg="), { kind: "error", error: "mount", message: "" });
  for (const bad of [
    "WALK-STATUS v1 exit=256",
    "WALK-STATUS v1 exit=-1",
    "WALK-STATUS v1 exit=1 extra",
    "WALK-STATUS v1 signal=0",
    "WALK-STATUS v1 signal=65",
    "WALK-STATUS v2 exit=0",
    " WALK-STATUS v1 exit=0",
    "WALK-STATUS v1 error=made_up msg=x",
    "WALK-STATUS v1 error=mount",
    "WALK-STATUS v1 error=mount msg=tab\there",
    `WALK-STATUS v1 error=mount msg=${"x".repeat(MAX_STATUS_LINE)}`,
    "",
  ]) {
    assert.equal(parseStatusLine(bad), undefined, bad);
  }
  assert.equal(describeStatus({ kind: "signal", signal: 15 }), "killed by signal 15");
});

test("BoundedLines joins partial chunks and drops overlong lines whole", () => {
  const l = new BoundedLines(8);
  assert.deepEqual(l.push(Buffer.from("ab")), []);
  assert.deepEqual(l.push(Buffer.from("c\nde")), ["abc"]);
  assert.deepEqual(l.push(Buffer.from("fghijklmnop")), []);
  assert.deepEqual(l.push(Buffer.from("q\nok\n")), ["ok"], "the overlong line is dropped up to its newline");
});

test("AgentParser reports started and the first status only", () => {
  const p = new AgentParser();
  assert.deepEqual(p.push(Buffer.from("WALK-STARTED v1\nWALK-STA")), [{ type: "started" }]);
  assert.deepEqual(p.push(Buffer.from("TUS v1 exit=3\nWALK-STATUS v1 exit=4\n")), [{ type: "status", status: { kind: "exit", code: 3 } }]);
  assert.deepEqual(p.push(Buffer.from("WALK-STATUS v1 exit=5\n")), []);
});

test("AgentParser reports the init's contract version and answers, ignores malformed ones, and nothing after the status", () => {
  const p = new AgentParser();
  assert.deepEqual(p.push(Buffer.from("WALK-INIT v2\nWALK-INIT v0\nWALK-INIT v02\nWALK-INIT v1000\nWALK-INIT 2\nWALK-STARTED v1\n")), [{ type: "hello", contract: 2 }, { type: "started" }]);
  assert.deepEqual(p.push(Buffer.from("WALK-REFRESHED v2 time=ok seed=failed\nWALK-REJECTED v2 line too long\nWALK-REFRESHED v2 time=ok\n")), [
    { type: "answer", answer: { kind: "refreshed", time: true, seed: false } },
    { type: "answer", answer: { kind: "rejected", reason: "line too long" } },
  ]);
  assert.deepEqual(p.push(Buffer.from("WALK-STATUS v1 exit=0\nWALK-REFRESHED v2 time=ok seed=ok\nWALK-INIT v3\n")), [{ type: "status", status: { kind: "exit", code: 0 } }]);
});

test("ConsoleStatusScanner keeps the last valid line through a flood without newlines", () => {
  const s = new ConsoleStatusScanner();
  s.push(Buffer.from("boot noise\nWALK-STATUS v1 exit=99\n"));
  assert.deepEqual(s.status, { kind: "exit", code: 99 });
  const flood = Buffer.alloc(1 << 20, "y");
  for (let i = 0; i < 8; i++) s.push(flood);
  s.push(Buffer.from("WALK-STATUS v1 exit=98\r\n")); // glued to the flood: not a line of its own
  assert.deepEqual(s.status, { kind: "exit", code: 99 });
  s.push(Buffer.from("\r\nWALK-STATUS v1 signal=9\r\nreboot: Restarting system\r\n"));
  assert.deepEqual(s.status, { kind: "signal", signal: 9 });
});
