// Proves the registry harness right with skopeo as the independent client: each mode serves what
// the fixture pusher uploaded, refuses what it must refuse, and the token service's tokens really
// expire at the registry after ttlSeconds (what the refresh tests in test/integration rely on).
import { test } from "node:test";
import assert from "node:assert/strict";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { execFile } from "../../src/lib/exec.js";
import { buildSampleImage, sha256 } from "../fixtures/images.js";
import { startRegistry, type RunningRegistry } from "./registry.js";

async function skopeoRaw(reg: RunningRegistry, ref: string, opts: { creds?: string; certs?: boolean } = {}) {
  const args = ["inspect", "--raw", "--retry-times", "0"];
  if (reg.url.startsWith("https:")) {
    if (opts.certs !== false) args.push("--cert-dir", join(reg.certsDir ?? "", reg.host));
  } else args.push("--tls-verify=false");
  if (opts.creds) args.push("--creds", opts.creds);
  return execFile("skopeo", [...args, `docker://${reg.host}/${ref}`], { timeoutMs: 30_000 });
}

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return fetch(url, { headers }).then(async (r) => ({ status: r.status, body: await r.text() }));
}

void test("plain registry serves a pushed image to skopeo; an unknown tag is manifest unknown", async () => {
  const reg = await startRegistry();
  try {
    const image = await buildSampleImage();
    assert.equal(await reg.push("walk/sample", "v1", image), image.digest);
    const r = await skopeoRaw(reg, "walk/sample:v1");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha256(r.stdout), image.digest);
    const missing = await skopeoRaw(reg, "walk/sample:nope");
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /manifest unknown/);
    assert.match(await reg.logs(), /GET \/v2\/walk\/sample\/manifests\/v1/);
  } finally {
    await reg.stop();
  }
  await assert.rejects(access(reg.dir), { code: "ENOENT" });
  await assert.rejects(fetch(`${reg.url}/v2/`));
});

void test("tls-basic registry: right credentials and CA work, wrong credentials are unauthorized, no CA is a TLS error", async () => {
  const reg = await startRegistry({ mode: "tls-basic" });
  try {
    assert.ok(reg.url.startsWith("https://127.0.0.1:"));
    const image = await buildSampleImage();
    await reg.push("walk/sample", "v1", image);
    const { username, password } = reg.credentials!;
    const good = await skopeoRaw(reg, "walk/sample:v1", { creds: `${username}:${password}` });
    assert.equal(good.code, 0, good.stderr);
    assert.equal(sha256(good.stdout), image.digest);
    const wrong = await skopeoRaw(reg, "walk/sample:v1", { creds: `${username}:not-the-password` });
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /unauthorized|authentication required/i);
    const noCa = await skopeoRaw(reg, "walk/sample:v1", { creds: `${username}:${password}`, certs: false });
    assert.notEqual(noCa.code, 0);
    assert.match(noCa.stderr, /x509|certificate/i);
    const anonymous = await get(`${reg.url}/v2/`).catch((e: Error) => e);
    assert.ok(anonymous instanceof Error, "Node's fetch must not trust the test CA by default");
  } finally {
    await reg.stop();
  }
});

void test("token registry: anonymous pull gets a pull-only grant, wrong credentials are refused by the token service", async () => {
  const reg = await startRegistry({ mode: "token" });
  try {
    const image = await buildSampleImage();
    await reg.push("walk/sample", "v1", image);
    const ts = reg.tokenService!;
    assert.deepEqual(ts.issued[0]?.granted, ["repository:walk/sample:pull,push"]);
    const before = ts.issued.length;
    const anon = await skopeoRaw(reg, "walk/sample:v1");
    assert.equal(anon.code, 0, anon.stderr);
    assert.equal(sha256(anon.stdout), image.digest);
    const anonTokens = ts.issued.slice(before);
    assert.ok(anonTokens.length > 0);
    for (const t of anonTokens) {
      assert.equal(t.user, undefined);
      assert.ok(t.granted.every((g) => g.endsWith(":pull")), t.granted.join(" "));
    }
    const wrong = await skopeoRaw(reg, "walk/sample:v1", { creds: "walk:wrong" });
    assert.notEqual(wrong.code, 0);
    assert.equal(ts.refused > 0, true);
    const challenge = await fetch(`${reg.url}/v2/walk/sample/manifests/v1`);
    assert.equal(challenge.status, 401);
    assert.match(challenge.headers.get("www-authenticate") ?? "", new RegExp(`^Bearer realm="${ts.realm}",service="walk-test-registry",scope="repository:walk/sample:pull"`));
  } finally {
    await reg.stop();
  }
});

void test("token registry: a token stops working at the registry ttlSeconds after it was issued", async () => {
  const reg = await startRegistry({ mode: "token", token: { ttlSeconds: 2, tokenField: "access_token" } });
  try {
    await reg.push("walk/sample", "v1", await buildSampleImage());
    const reply = await get(`${reg.tokenService!.realm}?service=walk-test-registry&scope=repository:walk/sample:pull`);
    const { access_token, expires_in } = JSON.parse(reply.body) as { access_token: string; expires_in: number };
    assert.equal(expires_in, 2);
    const url = `${reg.url}/v2/walk/sample/manifests/v1`;
    const accept = "application/vnd.oci.image.manifest.v1+json";
    assert.equal((await get(url, { authorization: `Bearer ${access_token}`, accept })).status, 200);
    // exp has whole-second resolution, so a token lives between ttl-1 and ttl seconds: 2 s leaves
    // room for the first request, and 3 s later it is always dead.
    await new Promise((r) => setTimeout(r, 3100));
    assert.equal((await get(url, { authorization: `Bearer ${access_token}`, accept })).status, 401);
  } finally {
    await reg.stop();
  }
});

void test("token registry over TLS: the CA and certs dir work for registry and pusher alike", async () => {
  const reg = await startRegistry({ mode: "token", tls: true });
  try {
    assert.ok(reg.url.startsWith("https://") && reg.ca !== undefined);
    const image = await buildSampleImage();
    await reg.push("walk/sample", "v1", image);
    const { username, password } = reg.credentials!;
    const r = await skopeoRaw(reg, "walk/sample:v1", { creds: `${username}:${password}` });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha256(r.stdout), image.digest);
    assert.ok(reg.tokenService!.issued.some((t) => t.user === username && t.granted.includes("repository:walk/sample:pull")));
  } finally {
    await reg.stop();
  }
});
