// walk's registry pull through authentication against a real docker-registry: TLS with a custom
// CA and htpasswd Basic auth, and the bearer token flow against the test token service
// (anonymous, credentialed, and a token that expires in the middle of a pull). Each refusal is
// the error a user can act on, and leaves nothing in the content store.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import type { Readable } from "node:stream";
import { isWalkError } from "../../src/lib/errors.js";
import { hostPlatform } from "../../src/oci/platform.js";
import { pullImage } from "../../src/image/pull.js";
import type { Descriptor, ImageSource } from "../../src/oci/types.js";
import { buildImage, pseudoRandomBytes, type BuiltImage } from "../fixtures/images.js";
import { startRegistry, type RunningRegistry } from "../harness/registry.js";
import { openFreshStore, pullIntoFreshStore, registrySource, skopeoInspectDigest, type SourceOptions } from "../harness/pull.js";

let tls: RunningRegistry;
let token: RunningRegistry;
let image: BuiltImage;
const USERS = { walk: "walk-secret", frozen: "frozen-secret" };

before(async () => {
  [tls, token] = await Promise.all([startRegistry({ mode: "tls-basic" }), startRegistry({ mode: "token", users: USERS })]);
  image = await buildImage({
    platform: hostPlatform(),
    layers: [0, 1, 2].map((i) => ({ entries: [{ type: "file" as const, path: `f${i}`, content: pseudoRandomBytes(`auth/${i}`, 40_000) }] })),
  });
  await Promise.all([tls.push("walk/private", "v1", image), token.push("walk/private", "v1", image)]);
});
after(async () => {
  await Promise.all([tls?.stop(), token?.stop()]);
});

/** Pulls and expects `code`; returns the error and proves the store stayed empty. */
async function expectPullError(reg: RunningRegistry, opts: SourceOptions, code: string): Promise<Error> {
  const fresh = await openFreshStore();
  const source = registrySource(reg, "walk/private:v1", opts);
  try {
    const err = await pullImage({ source, store: fresh.store }).then(
      () => assert.fail("the pull succeeded"),
      (e: unknown) => e,
    );
    assert.ok(isWalkError(err, code as never), `expected ${code}, got ${String(err)}`);
    assert.deepEqual(await fresh.digests(), []);
    return err;
  } finally {
    await source.close();
    await fresh.cleanup();
  }
}

void test("pull-auth: TLS with the registry's CA and right Basic credentials pulls the image skopeo sees", async () => {
  const walk = await pullIntoFreshStore(registrySource(tls, "walk/private:v1"));
  try {
    assert.equal(walk.result.image.digest, image.digest);
    assert.equal(await skopeoInspectDigest(tls, "walk/private:v1"), image.digest);
    assert.equal(walk.stored.length, 5);
  } finally {
    await walk.cleanup();
  }
});

void test("pull-auth: wrong Basic credentials are unauthorized, naming the registry", async () => {
  const err = await expectPullError(tls, { credentials: { username: "walk", password: "wrong" } }, "unauthorized");
  assert.ok(err.message.includes(tls.host), err.message);
  assert.ok(!err.message.includes("wrong"), "the password must not appear in the message");
});

void test("pull-auth: no credentials for a Basic-auth registry are unauthorized", async () => {
  const err = await expectPullError(tls, { credentials: null }, "unauthorized");
  assert.ok(err.message.includes(tls.host), err.message);
});

void test("pull-auth: without the CA the TLS handshake fails with a certificate error, no plain-HTTP fallback", async () => {
  const err = await expectPullError(tls, { trustCa: false }, "unavailable");
  assert.match(err.message, /certificate|self.signed|verify/i);
  assert.ok(err.message.includes(tls.host), err.message);
  assert.match(await tls.logs(), /TLS handshake error|tls: /);
});

void test("pull-auth: bearer tokens, anonymously (pull-only grant) and with credentials", async () => {
  const ts = token.tokenService!;
  const before = ts.issued.length;
  const anon = await pullIntoFreshStore(registrySource(token, "walk/private:v1", { credentials: null }));
  try {
    assert.equal(anon.result.image.digest, image.digest);
  } finally {
    await anon.cleanup();
  }
  const anonTokens = ts.issued.slice(before);
  assert.ok(anonTokens.length >= 1);
  assert.ok(anonTokens.every((t) => t.user === undefined && t.granted.every((g) => g === "repository:walk/private:pull")));

  const mark = ts.issued.length;
  const authed = await pullIntoFreshStore(registrySource(token, "walk/private:v1"));
  try {
    assert.equal(authed.result.image.digest, image.digest);
  } finally {
    await authed.cleanup();
  }
  const userTokens = ts.issued.slice(mark);
  assert.ok(userTokens.length >= 1 && userTokens.every((t) => t.user === "walk"), JSON.stringify(userTokens));
});

void test("pull-auth: the token service refusing credentials is unauthorized naming the user", async () => {
  const refused = token.tokenService!.refused;
  const err = await expectPullError(token, { credentials: { username: "walk", password: "nope" } }, "unauthorized");
  assert.match(err.message, /"walk"/);
  assert.ok(!err.message.includes("nope"));
  assert.ok(token.tokenService!.refused > refused);
});

void test("pull-auth: an anonymous client without pull permission is unauthorized", async () => {
  token.tokenService!.configure({ anonymousPull: false });
  try {
    await expectPullError(token, { credentials: null }, "unauthorized");
  } finally {
    token.tokenService!.configure({ anonymousPull: true });
  }
});

/** Holds every layer download until `gate` resolves; manifests and config pass straight through. */
function gatedLayers(inner: ImageSource, gate: () => Promise<void>): ImageSource {
  return {
    name: inner.name,
    getRootManifest: () => inner.getRootManifest(),
    getManifest: (d) => inner.getManifest(d),
    openBlob: async (desc: Descriptor, offset: number, signal?: AbortSignal): Promise<{ stream: Readable; offset: number }> => {
      if (desc.mediaType.includes("layer")) await gate();
      return inner.openBlob(desc, offset, signal);
    },
    close: () => inner.close(),
  };
}

void test("pull-auth: a token that expires mid-pull is refreshed, ahead of time or after the registry's 401", async () => {
  const ts = token.tokenService!;
  ts.configure({ ttlSeconds: 2 });
  try {
    const mark = ts.issued.length;
    // Tokens live 1-2 s (exp has whole seconds); 3.1 s after the manifest they are dead for sure.
    let gate: Promise<void> | undefined;
    const wait = (): Promise<void> => (gate ??= new Promise((r) => setTimeout(r, 3100)));
    // "walk" uses the real clock and refreshes before expiry; "frozen" has a stopped clock, so it
    // keeps the stale token until the registry answers 401.
    const frozenAt = Date.now();
    const [ahead, after401] = await Promise.all([
      pullIntoFreshStore(gatedLayers(registrySource(token, "walk/private:v1", { credentials: { username: "walk", password: USERS.walk } }), wait)),
      pullIntoFreshStore(gatedLayers(registrySource(token, "walk/private:v1", { credentials: { username: "frozen", password: USERS.frozen }, extra: { now: () => frozenAt } }), wait)),
    ]);
    try {
      for (const p of [ahead, after401]) {
        assert.equal(p.result.image.digest, image.digest);
        for (const d of p.stored) await p.store.verify(d);
      }
    } finally {
      await ahead.cleanup();
      await after401.cleanup();
    }
    const issued = ts.issued.slice(mark);
    assert.ok(issued.filter((t) => t.user === "walk").length >= 2, "the real-clock client fetched a fresh token");
    assert.ok(issued.filter((t) => t.user === "frozen").length >= 2, "the stopped-clock client fetched a fresh token after a 401");
    assert.match(await token.logs(), /invalid token|token not to be used after/i);
  } finally {
    ts.configure({ ttlSeconds: 300 });
  }
});
