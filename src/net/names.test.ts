import { test } from "node:test";
import assert from "node:assert/strict";
import { newId } from "../lib/index.js";
import { MAX_IFNAME, isWalkTapName, macFor, machineIdFromAlias, tapAlias, tapName } from "./names.js";

test("tap names are wk + the short id, within IFNAMSIZ-1, and deterministic", () => {
  const id = "0123456789abcdef0123456789abcdef";
  assert.equal(tapName(id), "wk0123456789ab");
  assert.equal(tapName(id), tapName(id));
  for (let i = 0; i < 50; i++) {
    const n = tapName(newId());
    assert.ok(Buffer.byteLength(n) <= MAX_IFNAME, n);
    assert.ok(isWalkTapName(n), n);
  }
});

test("machine ids that cannot make a device name are refused", () => {
  for (const bad of ["", "ABC", "a/b", "a b", "a:b", "-abc", "a".repeat(65), "é"]) {
    assert.throws(() => tapName(bad), (e: Error & { code?: string }) => e.code === "invalid_argument", bad);
    assert.throws(() => macFor(bad), (e: Error & { code?: string }) => e.code === "invalid_argument", bad);
  }
});

test("only walk-shaped names pass the prefix check", () => {
  for (const n of ["eth0", "wk", "wkABC", "docker0", "wk0123456789abcd", "xwk0123", "wk01/2"]) assert.equal(isWalkTapName(n), false, n);
  assert.equal(isWalkTapName("wk0123456789ab"), true);
});

test("MACs are stable, unicast, locally administered and distinct per machine", () => {
  const a = macFor("aaaa0000");
  assert.equal(a, macFor("aaaa0000"));
  assert.match(a, /^02(:[0-9a-f]{2}){5}$/);
  assert.notEqual(a, macFor("aaaa0001"));
});

test("the alias round-trips the machine id and foreign aliases are not walk's", () => {
  assert.equal(machineIdFromAlias(tapAlias("abc123")), "abc123");
  assert.equal(machineIdFromAlias(undefined), undefined);
  assert.equal(machineIdFromAlias("uplink"), undefined);
  assert.equal(machineIdFromAlias("walk:"), undefined);
  assert.equal(machineIdFromAlias("walk:../x"), undefined);
});
