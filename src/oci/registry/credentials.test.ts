// Docker config credentials: auths, identity tokens, Docker Hub aliases, credHelpers and
// credsStore through a fake docker-credential-test helper on PATH, and the walk login writer.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isWalkError } from "../../lib/errors.js";
import { dockerConfigCredentials, eraseCredentials, storeCredentials } from "./credentials.js";

let dir: string;
let env: NodeJS.ProcessEnv;
let store: string;

// Keeps its secrets in FAKE_HELPER_STORE (a JSON map by server URL) and logs each call.
const HELPER = `#!/usr/bin/env node
const fs = require("fs");
const op = process.argv[2];
let input = "";
process.stdin.on("data", (d) => (input += d)).on("end", () => {
  const file = process.env.FAKE_HELPER_STORE;
  const db = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {};
  fs.appendFileSync(file + ".log", op + " " + (op === "store" ? JSON.parse(input).ServerURL : input) + "\\n");
  if (op === "get") {
    if (input === "broken") { process.stderr.write("keychain locked"); process.exit(3); }
    const e = db[input];
    if (!e) { process.stdout.write("credentials not found in native keychain"); process.exit(1); }
    process.stdout.write(JSON.stringify({ ServerURL: input, Username: e.Username, Secret: e.Secret }));
  } else if (op === "store") {
    const r = JSON.parse(input);
    db[r.ServerURL] = { Username: r.Username, Secret: r.Secret };
    fs.writeFileSync(file, JSON.stringify(db));
  } else if (op === "erase") {
    delete db[input];
    fs.writeFileSync(file, JSON.stringify(db));
  }
});
`;

before(async () => {
  dir = await fs.mkdtemp(join(tmpdir(), "walk-creds-"));
  await fs.writeFile(join(dir, "docker-credential-test"), HELPER, { mode: 0o755 });
  store = join(dir, "helper-store.json");
  env = { ...process.env, PATH: `${dir}:${process.env.PATH ?? ""}`, FAKE_HELPER_STORE: store };
});
after(() => fs.rm(dir, { recursive: true, force: true }));

async function config(name: string, body: unknown): Promise<string> {
  const path = join(dir, name, "config.json");
  await fs.mkdir(join(dir, name), { recursive: true });
  await fs.writeFile(path, typeof body === "string" ? body : JSON.stringify(body));
  return path;
}

const b64 = (s: string): string => Buffer.from(s).toString("base64");

async function helperLog(): Promise<string[]> {
  return (await fs.readFile(`${store}.log`, "utf8").catch(() => "")).split("\n").filter(Boolean);
}

test("auths: base64 user:pass, keys with or without scheme, identity tokens", async () => {
  const path = await config("auths", {
    auths: {
      "localhost:5000": { auth: b64("alice:pw:with:colons") },
      "https://ghcr.io/v2/": { auth: b64("bob:tok") },
      "quay.io": { auth: b64("carol:"), identitytoken: "refresh-123" },
    },
  });
  const resolve = dockerConfigCredentials({ paths: [path], env });
  assert.deepEqual(await resolve("localhost:5000"), { username: "alice", password: "pw:with:colons" });
  assert.deepEqual(await resolve("ghcr.io"), { username: "bob", password: "tok" });
  assert.deepEqual(await resolve("quay.io"), { username: "carol", identityToken: "refresh-123" });
  assert.equal(await resolve("localhost:5001"), undefined);
});

test("Docker Hub is found under docker's https://index.docker.io/v1/ key and its aliases", async () => {
  for (const key of ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"]) {
    const path = await config(`hub-${key.length}`, { auths: { [key]: { auth: b64("hubuser:hubpw") } } });
    assert.deepEqual(await dockerConfigCredentials({ paths: [path], env })("docker.io"), { username: "hubuser", password: "hubpw" }, key);
  }
});

test("the first existing config file is used; none at all means no credentials", async () => {
  const path = await config("first", { auths: { "r.io": { auth: b64("u:p") } } });
  const resolve = dockerConfigCredentials({ paths: [join(dir, "missing.json"), path], env });
  assert.deepEqual(await resolve("r.io"), { username: "u", password: "p" });
  assert.equal(await dockerConfigCredentials({ paths: [join(dir, "missing.json")], env })("r.io"), undefined);
});

test("credHelpers per registry and credsStore go through docker-credential-NAME get", async () => {
  await fs.writeFile(store, JSON.stringify({ "helped.io": { Username: "h", Secret: "hs" }, "https://index.docker.io/v1/": { Username: "<token>", Secret: "idtok" } }));
  const perHost = await config("helpers", { credHelpers: { "helped.io": "test" }, auths: { "plain.io": { auth: b64("p:ps") } } });
  const resolve = dockerConfigCredentials({ paths: [perHost], env });
  assert.deepEqual(await resolve("helped.io"), { username: "h", password: "hs" });
  assert.deepEqual(await resolve("plain.io"), { username: "p", password: "ps" }, "hosts without a helper use auths");

  const global = await config("store", { credsStore: "test", auths: { "nothere.io": { auth: b64("f:fs") } } });
  const viaStore = dockerConfigCredentials({ paths: [global], env });
  assert.deepEqual(await viaStore("docker.io"), { username: "", identityToken: "idtok" }, "<token> marks an identity token");
  assert.deepEqual(await viaStore("nothere.io"), { username: "f", password: "fs" }, "helper says not found: auths is consulted");
  assert.equal(await viaStore("nowhere.io"), undefined);
  assert.ok((await helperLog()).includes("get https://index.docker.io/v1/"), "Docker Hub is asked for under docker's key");
});

test("a failing helper is an unavailable error naming it; a helper name cannot be a path", async () => {
  const path = await config("broken", { credHelpers: { broken: "test", evil: "../../bin/sh" } });
  await assert.rejects(dockerConfigCredentials({ paths: [path], env })("broken"), (err: unknown) => isWalkError(err, "unavailable") && /docker-credential-test get failed for broken: keychain locked/.test(err.message));
  await assert.rejects(dockerConfigCredentials({ paths: [path], env })("evil"), (err: unknown) => isWalkError(err, "invalid_argument") && /not a plain name/.test(err.message));
  const missing = await config("nohelper", { credsStore: "absent-helper" });
  await assert.rejects(dockerConfigCredentials({ paths: [missing], env })("x.io"), (err: unknown) => isWalkError(err, "unavailable") && /docker-credential-absent-helper is not installed/.test(err.message));
});

test("malformed config files are invalid_argument errors naming the file", async () => {
  const notJson = await config("notjson", "{ nope");
  await assert.rejects(dockerConfigCredentials({ paths: [notJson], env })("r.io"), (err: unknown) => isWalkError(err, "invalid_argument") && err.message.includes(notJson));
  const badAuth = await config("badauth", { auths: { "r.io": { auth: b64("no-colon") } } });
  await assert.rejects(dockerConfigCredentials({ paths: [badAuth], env })("r.io"), (err: unknown) => isWalkError(err, "invalid_argument") && /not base64 of user:password/.test(err.message));
});

test("storeCredentials writes auths atomically with mode 0600 and keeps other settings", async () => {
  const path = await config("login", { auths: { "index.docker.io": { auth: b64("old:old") }, "keep.io": { auth: b64("k:k") } }, psFormat: "table" });
  await storeCredentials(path, "docker.io", { username: "new", password: "newpw" }, env);
  const written = JSON.parse(await fs.readFile(path, "utf8")) as { auths: Record<string, unknown>; psFormat: string };
  assert.deepEqual(written.auths, { "keep.io": { auth: b64("k:k") }, "https://index.docker.io/v1/": { auth: b64("new:newpw") } });
  assert.equal(written.psFormat, "table");
  assert.equal((await fs.stat(path)).mode & 0o777, 0o600);
  assert.deepEqual(await fs.readdir(join(dir, "login")), ["config.json"], "no temp file left behind");
  assert.deepEqual(await dockerConfigCredentials({ paths: [path], env })("docker.io"), { username: "new", password: "newpw" });

  const fresh = join(dir, "fresh", "sub", "config.json");
  await storeCredentials(fresh, "localhost:5000", { username: "a", password: "b" }, env);
  assert.equal((await fs.stat(fresh)).mode & 0o777, 0o600);
  await assert.rejects(storeCredentials(fresh, "r.io", { username: "a:b", password: "c" }, env), (err: unknown) => isWalkError(err, "invalid_argument"));
});

test("with a credsStore, login stores through the helper and leaves no secret in the file", async () => {
  const path = await config("login-helper", { credsStore: "test" });
  await storeCredentials(path, "private.io:8443", { username: "svc", password: "helper-secret" }, env);
  const text = await fs.readFile(path, "utf8");
  assert.ok(!text.includes("helper-secret") && !text.includes(b64("svc:helper-secret")));
  assert.deepEqual((JSON.parse(text) as { auths: unknown }).auths, { "private.io:8443": {} });
  assert.deepEqual(await dockerConfigCredentials({ paths: [path], env })("private.io:8443"), { username: "svc", password: "helper-secret" });

  await eraseCredentials(path, "private.io:8443", env);
  assert.equal(await dockerConfigCredentials({ paths: [path], env })("private.io:8443"), undefined);
  assert.deepEqual((JSON.parse(await fs.readFile(path, "utf8")) as { auths: unknown }).auths, {});
});
