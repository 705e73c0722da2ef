import { test } from "node:test";
import assert from "node:assert/strict";
import { timingHeaders } from "./timing.js";

test("timing headers for a woken, a warm and a refused request", () => {
  assert.deepEqual(timingHeaders({ kind: "resume", durMs: 41.23 }, 42.06), { "x-walk-wake": "resume;dur=41.2", "x-walk-ready-ms": "42.1", "server-timing": "walk-wake;desc=resume;dur=41.2, walk-hold;dur=42.1" });
  assert.deepEqual(timingHeaders(undefined, 0, ["db;dur=3", "app;dur=5"]), { "x-walk-wake": "warm", "x-walk-ready-ms": "0.0", "server-timing": "db;dur=3, app;dur=5, walk-hold;dur=0.0" });
  assert.equal(timingHeaders("none", 300)["x-walk-wake"], "none");
});
