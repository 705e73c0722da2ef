import { test } from "node:test";
import assert from "node:assert/strict";
import { parseChallenges } from "./challenge.js";

test("Bearer challenge with quoted values containing commas and colons", () => {
  const header = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"';
  assert.deepEqual(parseChallenges(header), [
    { scheme: "bearer", params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:samalba/my-app:pull,push" } },
  ]);
});

test("Basic challenge, case-insensitive scheme and parameter names", () => {
  assert.deepEqual(parseChallenges('BASIC Realm="Registry Realm"'), [{ scheme: "basic", params: { realm: "Registry Realm" } }]);
});

test("several challenges in one header, spaces around '=' and unquoted tokens", () => {
  assert.deepEqual(parseChallenges('Basic realm="a, b", Bearer realm = "https://t/x" , service=reg,error=invalid_token'), [
    { scheme: "basic", params: { realm: "a, b" } },
    { scheme: "bearer", params: { realm: "https://t/x", service: "reg", error: "invalid_token" } },
  ]);
});

test("backslash escapes inside quoted strings", () => {
  assert.deepEqual(parseChallenges('Bearer realm="a\\"b\\\\c"'), [{ scheme: "bearer", params: { realm: 'a"b\\c' } }]);
});

test("garbage and unterminated input never loop and yield what can be read", () => {
  assert.deepEqual(parseChallenges(""), []);
  assert.deepEqual(parseChallenges("=== ,,, "), []);
  assert.deepEqual(parseChallenges('Bearer realm="unterminated'), [{ scheme: "bearer", params: { realm: "unterminated" } }]);
  assert.deepEqual(parseChallenges("Negotiate"), [{ scheme: "negotiate", params: {} }]);
});
