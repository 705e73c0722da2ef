import { test } from "node:test";
import assert from "node:assert/strict";
import { isWalkError } from "../lib/index.js";
import { RouteTable } from "./routes.js";
import type { AppBackend, AppRoute } from "./types.js";

const backend: AppBackend = { wake: () => Promise.reject(new Error("unused")), idle: () => Promise.resolve() };
const route = (name: string, extra: Partial<AppRoute> = {}): AppRoute => ({ name, backends: [backend], ...extra });

test("apps answer on <name>.localhost and their own hostnames, canonicalized", () => {
  const t = RouteTable.build([route("shop", { hostnames: ["Shop.Example.com."] }), route("blog", { hostPorts: [8081] })]);
  assert.equal(t.byHostname("shop.localhost")?.name, "shop");
  assert.equal(t.byHostname("shop.example.com")?.name, "shop");
  assert.equal(t.byHostname("blog.localhost")?.name, "blog");
  assert.equal(t.byHostname("x.shop.localhost"), undefined);
  assert.equal(t.byHostname("localhost"), undefined);
  assert.equal(t.byHostPort(8081)?.name, "blog");
  assert.equal(t.byHostPort(8082), undefined);
  assert.deepEqual(t.ports(), [8081]);
});

test("a bad or conflicting entry is refused with an error naming it", () => {
  const cases: Array<[AppRoute[], string, RegExp]> = [
    [[route("Shop")], "invalid_argument", /app name "Shop"/],
    [[route("shop"), route("shop")], "conflict", /listed twice/],
    [[route("shop", { hostnames: ["a..b"] })], "invalid_argument", /hostname "a..b"/],
    [[route("shop", { hostnames: ["x.com"] }), route("blog", { hostnames: ["X.com"] })], "conflict", /x\.com already belongs to app shop/],
    [[route("shop"), route("blog", { hostnames: ["shop.localhost"] })], "conflict", /shop\.localhost already belongs to app shop/],
    [[route("shop", { hostPorts: [0] })], "invalid_argument", /host port 0/],
    [[route("shop", { hostPorts: [80] }), route("blog", { hostPorts: [80] })], "conflict", /host port 80 already belongs to app shop/],
  ];
  for (const [routes, code, msg] of cases) {
    assert.throws(
      () => RouteTable.build(routes),
      (e: unknown) => isWalkError(e, code as "conflict") && msg.test(e.message),
    );
  }
});
