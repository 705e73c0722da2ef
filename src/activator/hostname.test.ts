import { test } from "node:test";
import assert from "node:assert/strict";
import { canonicalHostname, hostFromHeader, isDnsLabel } from "./hostname.js";

test("hostFromHeader lowercases, strips the port and one trailing dot", () => {
  assert.equal(hostFromHeader("Shop.LOCALHOST:8080"), "shop.localhost");
  assert.equal(hostFromHeader("shop.localhost."), "shop.localhost");
  assert.equal(hostFromHeader("shop.localhost.:80"), "shop.localhost");
  assert.equal(hostFromHeader("[::1]:80"), "::1");
});

test("hostFromHeader rejects malformed hosts rather than guessing", () => {
  for (const bad of [undefined, "", "shop.localhost..", ".shop.localhost", "shop..localhost", "shop localhost", "shop.localhost:abc", "a:b:c", "-x.localhost", "x_y.localhost", "shop.localhost:123456", "[zz]"]) {
    assert.equal(hostFromHeader(bad), undefined, String(bad));
  }
});

test("canonicalHostname and isDnsLabel bound lengths and characters", () => {
  assert.equal(isDnsLabel("a".repeat(63)), true);
  assert.equal(isDnsLabel("a".repeat(64)), false);
  assert.equal(isDnsLabel("app-1"), true);
  assert.equal(isDnsLabel("app-"), false);
  assert.equal(isDnsLabel("App"), false);
  assert.equal(canonicalHostname("Example.COM"), "example.com");
  assert.equal(canonicalHostname(`${"a".repeat(60)}.`.repeat(5)), undefined);
});
