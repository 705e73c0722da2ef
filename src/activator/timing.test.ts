import { test } from "node:test";
import assert from "node:assert/strict";
import { WARM_TIMING, timingLines } from "./timing.js";

test("timing lines for a woken, a warm and a refused request", () => {
  assert.equal(timingLines({ kind: "resume", durMs: 41.23 }, 42.06), "x-walk-wake: resume;dur=41.2\r\nx-walk-ready-ms: 42.1\r\nserver-timing: walk-wake;desc=resume;dur=41.2, walk-hold;dur=42.1\r\n");
  assert.equal(timingLines(undefined, 0, "db;dur=3, app;dur=5"), "x-walk-wake: warm\r\nx-walk-ready-ms: 0.0\r\nserver-timing: db;dur=3, app;dur=5, walk-hold;dur=0.0\r\n");
  assert.equal(timingLines(undefined, 0), WARM_TIMING);
  assert.equal(timingLines(undefined, 0.04), WARM_TIMING);
  assert.match(timingLines("none", 300), /^x-walk-wake: none\r\nx-walk-ready-ms: 300\.0\r\n/);
});
