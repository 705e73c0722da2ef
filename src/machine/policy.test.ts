// Restart policy parsing and decisions, and the backoff numbers documented in docs/machines.md.
import { test } from "node:test";
import assert from "node:assert/strict";
import { isWalkError } from "../lib/index.js";
import { DEFAULT_BACKOFF, decideRestart, formatRestartPolicy, parseRestartPolicy } from "./policy.js";

test("policies parse and format back", () => {
  for (const p of ["no", "always", "on-failure", "on-failure:0", "on-failure:5"]) assert.equal(formatRestartPolicy(parseRestartPolicy(p)), p);
  for (const bad of ["", "yes", "on-failure:", "on-failure:-1", "on-failure:x", "always:3", "on-failure:99999999"]) {
    assert.throws(() => parseRestartPolicy(bad), (e: unknown) => isWalkError(e, "invalid_argument") && /restart policy/.test(e.message), bad);
  }
});

test("who restarts: on-failure only after failures and within its budget; always always; no never", () => {
  const d = (p: string, outcome: "success" | "failure", count: number) => decideRestart(parseRestartPolicy(p), outcome, count, 0, 0, DEFAULT_BACKOFF).restart;
  assert.equal(d("no", "failure", 0), false);
  assert.equal(d("on-failure", "failure", 100), true);
  assert.equal(d("on-failure", "success", 0), false);
  assert.equal(d("on-failure:2", "failure", 1), true);
  assert.equal(d("on-failure:2", "failure", 2), false);
  assert.equal(d("always", "success", 1000), true);
});

test("backoff doubles per short run from 1 s up to 60 s, and resets after a run of 10 s", () => {
  const p = parseRestartPolicy("always");
  let streak = 0;
  const delays: number[] = [];
  for (let i = 0; i < 9; i++) {
    const r = decideRestart(p, "failure", i, streak, 500, DEFAULT_BACKOFF);
    delays.push(r.delayMs);
    streak = r.streak;
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
  const healthy = decideRestart(p, "failure", 9, streak, 10_000, DEFAULT_BACKOFF);
  assert.deepEqual([healthy.delayMs, healthy.streak], [1000, 0]);
});
