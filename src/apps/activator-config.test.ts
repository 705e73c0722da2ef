import { test } from "node:test";
import assert from "node:assert/strict";
import { parseActivatorConfig } from "./activator-config.js";

test("[activator]: default loopback, a configured address, IPv6", () => {
  assert.deepEqual(parseActivatorConfig(undefined), { listen: { host: "127.0.0.1", port: 8040 }, configured: false });
  assert.deepEqual(parseActivatorConfig({ listen: "0.0.0.0:80" }), { listen: { host: "0.0.0.0", port: 80 }, configured: true });
  assert.deepEqual(parseActivatorConfig({ listen: "[::1]:8080" }), { listen: { host: "::1", port: 8080 }, configured: true });
});

test("[activator]: the starting page is off by default, on with defaults, or tuned", () => {
  assert.equal(parseActivatorConfig({}).startingPage, undefined);
  assert.equal(parseActivatorConfig({ starting_page: false }).startingPage, undefined);
  assert.deepEqual(parseActivatorConfig({ starting_page: true }), { listen: { host: "127.0.0.1", port: 8040 }, configured: false, startingPage: { afterMs: 1500, refreshSeconds: 2 } });
  assert.deepEqual(parseActivatorConfig({ starting_page: { after_ms: 0 } }).startingPage, { afterMs: 0, refreshSeconds: 2 });
  assert.deepEqual(parseActivatorConfig({ starting_page: { after_ms: 800, refresh_s: 5 } }).startingPage, { afterMs: 800, refreshSeconds: 5 });
});

test("[activator]: bad values are refused, naming the key", () => {
  assert.throws(() => parseActivatorConfig("x"), /\[activator\] must be a table/);
  assert.throws(() => parseActivatorConfig({ port: 1 }), /activator\.port: unknown key \(allowed: listen, starting_page\)/);
  assert.throws(() => parseActivatorConfig({ listen: "8080" }), /activator\.listen must be "HOST:PORT"/);
  assert.throws(() => parseActivatorConfig({ listen: "127.0.0.1:70000" }), /activator\.listen must be "HOST:PORT"/);
  assert.throws(() => parseActivatorConfig({ listen: 8080 }), /activator\.listen must be "HOST:PORT"/);
  assert.throws(() => parseActivatorConfig({ starting_page: "yes" }), /activator\.starting_page must be true, false or \{ after_ms, refresh_s \}/);
  assert.throws(() => parseActivatorConfig({ starting_page: { after: 1 } }), /activator\.starting_page\.after: unknown key/);
  assert.throws(() => parseActivatorConfig({ starting_page: { after_ms: -1 } }), /activator\.starting_page\.after_ms must be an integer in 0\.\.600000, got -1/);
  assert.throws(() => parseActivatorConfig({ starting_page: { refresh_s: 0 } }), /activator\.starting_page\.refresh_s must be an integer in 1\.\.3600, got 0/);
  assert.throws(() => parseActivatorConfig({ starting_page: { after_ms: 1.5 } }), /after_ms must be an integer/);
});
