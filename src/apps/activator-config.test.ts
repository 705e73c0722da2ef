import { test } from "node:test";
import assert from "node:assert/strict";
import { parseActivatorConfig } from "./activator-config.js";

test("[activator]: default loopback, a configured address, IPv6", () => {
  assert.deepEqual(parseActivatorConfig(undefined), { listen: { host: "127.0.0.1", port: 8040 }, configured: false });
  assert.deepEqual(parseActivatorConfig({ listen: "0.0.0.0:80" }), { listen: { host: "0.0.0.0", port: 80 }, configured: true });
  assert.deepEqual(parseActivatorConfig({ listen: "[::1]:8080" }), { listen: { host: "::1", port: 8080 }, configured: true });
});

test("[activator]: bad values are refused, naming the key", () => {
  assert.throws(() => parseActivatorConfig("x"), /\[activator\] must be a table/);
  assert.throws(() => parseActivatorConfig({ port: 1 }), /activator\.port: unknown key/);
  assert.throws(() => parseActivatorConfig({ listen: "8080" }), /activator\.listen must be "HOST:PORT"/);
  assert.throws(() => parseActivatorConfig({ listen: "127.0.0.1:70000" }), /activator\.listen must be "HOST:PORT"/);
  assert.throws(() => parseActivatorConfig({ listen: 8080 }), /activator\.listen must be "HOST:PORT"/);
});
