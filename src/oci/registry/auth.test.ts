// Authentication against in-process registries: anonymous and credentialed bearer tokens, token
// expiry and refresh, Basic, rejected credentials, and credentials withheld from foreign realms.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { isWalkError } from "../../lib/errors.js";
import { parseRegistryReference } from "../reference.js";
import { RegistrySource, type RegistrySourceOptions } from "./source.js";
import { RegistryClient } from "./client.js";
import { fakeContent, registryHandler, sendError, sendJson, startServer, type TestServer } from "./testing.js";
import type { Credentials } from "./credentials.js";

const content = fakeContent("team/app", "v1", [Buffer.from("{}"), Buffer.from("layer")]);
const alice: Credentials = { username: "alice", password: "s3cret-pw" };
const basicAlice = `Basic ${Buffer.from("alice:s3cret-pw").toString("base64")}`;

function source(registry: TestServer, opts: RegistrySourceOptions = {}): RegistrySource {
  return new RegistrySource(parseRegistryReference(`${registry.host}/team/app:v1`), { retry: { attempts: 2, baseDelayMs: 1 }, ...opts });
}

/** A token service: issues `t1`, `t2`, ... and records the Authorization it was asked with. */
async function tokenService(reply: (n: number, req: IncomingMessage) => object | undefined = (n) => ({ token: `t${n}` })): Promise<TestServer & { issued: () => number }> {
  let n = 0;
  const server = await startServer((req, res) => {
    n++;
    const body = reply(n, req);
    if (body === undefined) return sendError(res, 401, "UNAUTHORIZED", "bad credentials");
    sendJson(res, 200, body);
  });
  return Object.assign(server, { issued: () => n });
}

function bearerRegistry(realm: string, valid: (auth: string | undefined) => boolean): Promise<TestServer> {
  return startServer(registryHandler(content, (req) => valid(req.headers.authorization), `Bearer realm="${realm}",service="test-registry",scope="repository:team/app:pull"`));
}

test("anonymous bearer flow: token fetched without credentials, with service and scope", async (t) => {
  const tokens = await tokenService();
  const registry = await bearerRegistry(`${tokens.origin}/token`, (a) => a === "Bearer t1");
  const src = source(registry);
  t.after(() => Promise.all([src.close(), tokens.close(), registry.close()]));

  const m = await src.getRootManifest();
  assert.equal(m.mediaType, "application/vnd.oci.image.manifest.v1+json");
  assert.equal(tokens.requests.length, 1);
  const q = new URL(tokens.requests[0]!.path, "http://x").searchParams;
  assert.equal(q.get("service"), "test-registry");
  assert.equal(q.get("scope"), "repository:team/app:pull");
  assert.equal(tokens.requests[0]!.headers.authorization, undefined);
});

test("credentialed bearer flow: Basic credentials go to a same-host realm, access_token accepted", async (t) => {
  // The realm is the registry itself (same host), so it may receive the credentials.
  let issued = 0;
  const registry = await startServer((req, res) => {
    if (req.url?.startsWith("/token")) {
      issued++;
      if (req.headers.authorization !== basicAlice) return sendError(res, 401, "UNAUTHORIZED", "no");
      return sendJson(res, 200, { access_token: "tok-alice", expires_in: 300 });
    }
    registryHandler(content, (r) => r.headers.authorization === "Bearer tok-alice", `Bearer realm="http://${registryHost}/token",service="svc"`)(req, res);
  });
  const registryHost = registry.host;
  const src = source(registry, { credentials: async () => alice });
  t.after(() => Promise.all([src.close(), registry.close()]));

  await src.getRootManifest();
  await src.getRootManifest();
  assert.equal(issued, 1, "the token is cached for its scope");
});

test("an expired token is refreshed before use", async (t) => {
  let clock = Date.now();
  const tokens = await tokenService((n) => ({ token: `t${n}`, expires_in: 100, issued_at: new Date(clock).toISOString() }));
  const registry = await bearerRegistry(`${tokens.origin}/token`, (a) => a?.startsWith("Bearer t") === true);
  const src = source(registry, { now: () => clock });
  t.after(() => Promise.all([src.close(), tokens.close(), registry.close()]));

  await src.getRootManifest();
  clock += 50_000;
  await src.getRootManifest();
  assert.equal(tokens.issued(), 1, "still valid halfway through its life");
  clock += 60_000;
  await src.getRootManifest();
  assert.equal(tokens.issued(), 2, "expired: fetched anew");
  assert.equal(registry.requests.at(-1)?.headers.authorization, "Bearer t2");
});

test("a 401 mid-pull (token revoked early) gets one retry with a fresh token", async (t) => {
  const tokens = await tokenService();
  let accepted = "Bearer t1";
  const registry = await bearerRegistry(`${tokens.origin}/token`, (a) => a === accepted);
  const src = source(registry);
  t.after(() => Promise.all([src.close(), tokens.close(), registry.close()]));

  await src.getRootManifest();
  accepted = "Bearer t2"; // the registry stops honouring t1 although it has not expired
  await src.getRootManifest();
  assert.equal(tokens.issued(), 2);
  assert.equal(registry.requests.at(-1)?.headers.authorization, "Bearer t2");
});

test("Basic auth: credentials sent when the registry challenges Basic", async (t) => {
  const registry = await startServer(registryHandler(content, (r) => r.headers.authorization === basicAlice, 'Basic realm="reg"'));
  const src = source(registry, { credentials: async () => alice });
  t.after(() => Promise.all([src.close(), registry.close()]));
  await src.getRootManifest();
  assert.equal(registry.requests.at(-1)?.headers.authorization, basicAlice);
});

test("wrong credentials are unauthorized, name the registry, and never show the password", async (t) => {
  const wrong = { username: "alice", password: "not-the-pw" };
  // Bearer: the registry's realm is on its own host, so the credentials are sent and rejected.
  const sameHostRealm = await startServer((req, res) => {
    if (req.url?.startsWith("/token")) return sendError(res, 401, "UNAUTHORIZED", "invalid username/password");
    registryHandler(content, () => false, `Bearer realm="http://${sameHostRealm.host}/token"`)(req, res);
  });
  const basic = await startServer(registryHandler(content, (r) => r.headers.authorization === basicAlice, 'Basic realm="reg"'));
  const srcs = [source(sameHostRealm, { credentials: async () => wrong }), source(basic, { credentials: async () => wrong })];
  t.after(() => Promise.all([...srcs.map((s) => s.close()), sameHostRealm.close(), basic.close()]));

  for (const [i, src] of srcs.entries()) {
    const host = i === 0 ? sameHostRealm.host : basic.host;
    await assert.rejects(src.getRootManifest(), (err: unknown) => {
      assert.ok(isWalkError(err, "unauthorized"), String(err));
      assert.match(err.message, /rejected the credentials/);
      if (i === 1) assert.match(err.message, /registry said: UNAUTHORIZED: authentication required/);
      assert.ok(err.message.includes(host), err.message);
      assert.ok(!err.message.includes("not-the-pw"));
      return true;
    });
  }
  assert.equal(basic.requests.filter((r) => r.headers.authorization !== undefined).length, 1, "a rejected Basic login is not retried");
});

test("anonymous access refused: unauthorized with a hint to log in", async (t) => {
  const tokens = await tokenService();
  const registry = await bearerRegistry(`${tokens.origin}/token`, () => false);
  const src = source(registry);
  t.after(() => Promise.all([src.close(), tokens.close(), registry.close()]));
  await assert.rejects(src.getRootManifest(), (err: unknown) => isWalkError(err, "unauthorized") && /walk login/.test(err.message) && err.message.includes(registry.host));
});

test("credentials are not sent to a token realm on another host unless it is trusted", async (t) => {
  const tokens = await tokenService();
  const registry = await bearerRegistry(`${tokens.origin}/token`, (a) => a?.startsWith("Bearer t") === true);
  const untrusted = source(registry, { credentials: async () => alice });
  const trusted = source(registry, { credentials: async () => alice, trustedTokenRealms: { [registry.host]: [tokens.host] } });
  t.after(() => Promise.all([untrusted.close(), trusted.close(), tokens.close(), registry.close()]));

  await untrusted.getRootManifest();
  assert.equal(tokens.requests.length, 1);
  assert.equal(tokens.requests[0]!.headers.authorization, undefined, "anonymous token from the foreign realm");
  await trusted.getRootManifest();
  assert.equal(tokens.requests[1]!.headers.authorization, basicAlice, "trusted realm gets the credentials");
});

test("a refusal after credentials were withheld from a foreign realm says so", async (t) => {
  const tokens = await tokenService((n, req) => ({ token: req.headers.authorization === undefined ? "anon" : `user${n}` }));
  const registry = await bearerRegistry(`${tokens.origin}/token`, (a) => a?.startsWith("Bearer user") === true);
  const src = source(registry, { credentials: async () => alice });
  t.after(() => Promise.all([src.close(), tokens.close(), registry.close()]));
  await assert.rejects(src.getRootManifest(), (err: unknown) => {
    assert.ok(isWalkError(err, "unauthorized"), String(err));
    assert.ok(err.message.includes(`were not sent to its token service ${tokens.host}`), err.message);
    assert.match(err.message, /registry\.trusted_token_realms/);
    return true;
  });
  assert.ok(tokens.requests.every((r) => r.headers.authorization === undefined));
});

test("identity tokens use the OAuth2 refresh-token POST", async (t) => {
  let form: URLSearchParams | undefined;
  const registry = await startServer((req, res) => {
    if (req.url?.startsWith("/token")) {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        form = new URLSearchParams(body);
        sendJson(res, 200, { access_token: "from-refresh" });
      });
      return;
    }
    registryHandler(content, (r) => r.headers.authorization === "Bearer from-refresh", `Bearer realm="http://${registry.host}/token",service="svc"`)(req, res);
  });
  const src = source(registry, { credentials: async () => ({ username: "", identityToken: "refresh-me" }) });
  t.after(() => Promise.all([src.close(), registry.close()]));
  await src.getRootManifest();
  assert.equal(form?.get("grant_type"), "refresh_token");
  assert.equal(form?.get("refresh_token"), "refresh-me");
  assert.equal(form?.get("scope"), "repository:team/app:pull");
  assert.equal(form?.get("service"), "svc");
});

test("a token reply without a token is a clear error", async (t) => {
  const tokens = await tokenService(() => ({ nothing: true }));
  const registry = await bearerRegistry(`${tokens.origin}/token`, () => false);
  const src = source(registry);
  t.after(() => Promise.all([src.close(), tokens.close(), registry.close()]));
  await assert.rejects(src.getRootManifest(), (err: unknown) => isWalkError(err, "unavailable") && /without a usable token/.test(err.message));
});

test("an oversized token reply is refused (1 MiB bound)", async (t) => {
  const tokens = await startServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(`{"token":"${"x".repeat((1 << 20) + 10)}"}`);
  });
  const registry = await bearerRegistry(`${tokens.origin}/token`, () => false);
  const src = source(registry);
  t.after(() => Promise.all([src.close(), tokens.close(), registry.close()]));
  await assert.rejects(src.getRootManifest(), (err: unknown) => isWalkError(err, "size_exceeded") && /token reply/.test(err.message));
});

test("login checks credentials: accepted and rejected, Basic and bearer", async (t) => {
  const basic = await startServer(registryHandler(content, (r) => r.headers.authorization === basicAlice, 'Basic realm="reg"'));
  const bearer = await startServer((req, res) => {
    if (req.url?.startsWith("/token")) {
      if (req.headers.authorization !== basicAlice) return sendError(res, 401, "UNAUTHORIZED", "bad login");
      return sendJson(res, 200, { token: "login-token" });
    }
    registryHandler(content, (r) => r.headers.authorization === "Bearer login-token", `Bearer realm="http://${bearer.host}/token",service="svc"`)(req, res);
  });
  t.after(() => Promise.all([basic.close(), bearer.close()]));
  for (const server of [basic, bearer]) {
    const good = new RegistryClient(server.host, { credentials: async () => alice, retry: { attempts: 1 } });
    const bad = new RegistryClient(server.host, { credentials: async () => ({ username: "alice", password: "nope-pw" }), retry: { attempts: 1 } });
    t.after(() => Promise.all([good.close(), bad.close()]));
    await good.login();
    await assert.rejects(bad.login(), (err: unknown) => isWalkError(err, "unauthorized") && /rejected the credentials/.test(err.message) && !err.message.includes("nope-pw"));
  }
  assert.ok(bearer.requests.some((r) => r.path.startsWith("/token") && !r.path.includes("scope=")), "login asks for a token without a repository scope");
});
