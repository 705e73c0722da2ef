// The machine commands' helpers: size parsing for --memory/--disk and the exit status walk run reports.
import { test } from "node:test";
import assert from "node:assert/strict";
import { isWalkError } from "../../lib/index.js";
import type { MachineWire } from "../../api/machine-schemas.js";
import { exitStatusOf, parseSizeMib } from "./machine.js";

test("sizes are binary and whole MiB; a bare number is MiB", () => {
  assert.equal(parseSizeMib("--memory", "256M"), 256);
  assert.equal(parseSizeMib("--memory", "256MiB"), 256);
  assert.equal(parseSizeMib("--memory", "1G"), 1024);
  assert.equal(parseSizeMib("--memory", "1.5g"), 1536);
  assert.equal(parseSizeMib("--disk", "512"), 512);
  assert.equal(parseSizeMib("--disk", "2048K"), 2);
  assert.equal(parseSizeMib("--disk", "1T"), 1024 * 1024);
  for (const bad of ["", "0", "-1G", "1.5M", "100K", "1X", "G", "1 G B"]) {
    assert.throws(() => parseSizeMib("--memory", bad), (e: unknown) => isWalkError(e, "invalid_argument") && /--memory must be a size in whole MiB/.test(e.message), bad);
  }
});

test("walk run exits with the workload's code, 128+signal, or 125 when it never ran", () => {
  const m = (exit_code: number | null, exit_signal: number | null) => ({ exit_code, exit_signal }) as MachineWire;
  assert.equal(exitStatusOf(m(42, null)), 42);
  assert.equal(exitStatusOf(m(0, null)), 0);
  assert.equal(exitStatusOf(m(null, 15)), 143);
  assert.equal(exitStatusOf(m(null, null)), 125);
});
