// The refresh command's format (what the init's command.c accepts) and the init's answers: exact
// forms only, every bad input refused with its reason.
import { test } from "node:test";
import assert from "node:assert/strict";
import { isWalkError } from "../lib/errors.js";
import { SEED_LIMITS, parseRefreshAnswer, refreshCommand } from "./refresh.js";

const seed = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => i));

test("refreshCommand: seconds, nine digits of nanoseconds (from milliseconds), lower-case hex", () => {
  assert.equal(refreshCommand(1_717_171_717_042, seed(32)), `refresh 1717171717.042000000 ${seed(32).toString("hex")}\n`);
  assert.equal(refreshCommand(1000, seed(128)), `refresh 1.000000000 ${seed(128).toString("hex")}\n`);
  assert.match(refreshCommand(9_999_999_999_999, Buffer.alloc(64, 0xab)), /^refresh 9999999999\.999000000 (ab){64}\n$/);
});

test("refreshCommand refuses a time or a seed the init would refuse", () => {
  const bad: Array<[number, Buffer, RegExp]> = [
    [999, seed(64), /whole milliseconds since 1970/],
    [0, seed(64), /whole milliseconds/],
    [-1000, seed(64), /whole milliseconds/],
    [1.5e12 + 0.5, seed(64), /whole milliseconds/],
    [1e13, seed(64), /whole milliseconds/],
    [Number.NaN, seed(64), /whole milliseconds/],
    [1e12, seed(SEED_LIMITS.min - 1), /the seed must be 32 to 128 bytes, got 31/],
    [1e12, seed(SEED_LIMITS.max + 1), /got 129/],
  ];
  for (const [now, s, message] of bad) {
    assert.throws(() => refreshCommand(now, s), (e: unknown) => isWalkError(e, "invalid_argument") && message.test((e as Error).message), `${now} / ${s.length}`);
  }
});

test("parseRefreshAnswer accepts exactly the init's forms", () => {
  assert.deepEqual(parseRefreshAnswer("WALK-REFRESHED v2 time=ok seed=ok"), { kind: "refreshed", time: true, seed: true });
  assert.deepEqual(parseRefreshAnswer("WALK-REFRESHED v2 time=failed seed=ok"), { kind: "refreshed", time: false, seed: true });
  assert.deepEqual(parseRefreshAnswer("WALK-REFRESHED v2 time=ok seed=failed"), { kind: "refreshed", time: true, seed: false });
  assert.deepEqual(parseRefreshAnswer("WALK-REJECTED v2 malformed seed"), { kind: "rejected", reason: "malformed seed" });
  for (const line of [
    "WALK-REFRESHED v1 time=ok seed=ok",
    "WALK-REFRESHED v2 time=ok",
    "WALK-REFRESHED v2 seed=ok time=ok",
    "WALK-REFRESHED v2 time=ok seed=ok ",
    "WALK-REFRESHED v2 time=yes seed=ok",
    " WALK-REFRESHED v2 time=ok seed=ok",
    "WALK-REJECTED v2 ",
    "WALK-REJECTED v2 bad\x01",
    `WALK-REJECTED v2 ${"x".repeat(81)}`,
    "WALK-REJECTED v3 unknown command",
  ]) {
    assert.equal(parseRefreshAnswer(line), undefined, JSON.stringify(line));
  }
});
