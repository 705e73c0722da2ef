// RegistrySource against hostile in-process registries: redirects (credentials stripped on a host
// change, loops), hangs, oversized and mismatching manifests, oversized and truncated blobs,
// resumption with Range, and retries of 429/503.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { isWalkError } from "../../lib/errors.js";
import { parseRegistryReference } from "../reference.js";
import type { Descriptor } from "../types.js";
import { RegistrySource, MANIFEST_ACCEPT, type RegistrySourceOptions } from "./source.js";
import { collect, fakeContent, registryHandler, sendBlob, sendError, sendJson, sha256, startServer, type TestServer } from "./testing.js";

const layer = Buffer.alloc(256 * 1024, 7);
layer.write("the layer", 1000);
const content = fakeContent("team/app", "v1", [Buffer.from("{}"), layer]);
const layerDesc: Descriptor = { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(layer), size: layer.length };
const blobPath = `/v2/team/app/blobs/${layerDesc.digest}`;

function source(registry: TestServer, ref = "team/app:v1", opts: RegistrySourceOptions = {}): RegistrySource {
  return new RegistrySource(parseRegistryReference(`${registry.host}/${ref}`), { retry: { attempts: 3, baseDelayMs: 1 }, ...opts });
}

async function withSource(t: { after: (fn: () => Promise<unknown>) => void }, handler: Parameters<typeof startServer>[0], ref?: string, opts?: RegistrySourceOptions) {
  const server = await startServer(handler);
  const src = source(server, ref, opts);
  t.after(() => Promise.all([src.close(), server.close()]));
  return { server, src };
}

function code(c: string, message?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(isWalkError(err), String(err));
    assert.equal(err.code, c, err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}

test("root manifest by tag: Accept lists all four manifest types; digest is the sha256 of the bytes", async (t) => {
  const { server, src } = await withSource(t, registryHandler(content));
  const m = await src.getRootManifest();
  const want = content.manifests.get("v1")!;
  assert.deepEqual(m, { bytes: want.bytes, mediaType: want.mediaType, digest: sha256(want.bytes) });
  assert.equal(server.requests.at(-1)?.headers.accept, MANIFEST_ACCEPT);
  for (const type of ["oci.image.index", "oci.image.manifest", "manifest.list.v2", "distribution.manifest.v2"]) assert.ok(MANIFEST_ACCEPT.includes(type));
});

test("a plain-HTTP loopback registry is reached after a TLS attempt, unless the loopback default is off", async (t) => {
  const { server, src } = await withSource(t, registryHandler(content));
  await src.getRootManifest();
  const strict = source(server, "team/app:v1", { allowLoopbackPlainHttp: false, retry: { attempts: 1 } });
  t.after(() => strict.close());
  const before = server.requests.length;
  await assert.rejects(strict.getRootManifest(), code("unavailable", /does not speak TLS/));
  assert.equal(server.requests.length, before, "no plain-HTTP request was made");
});

test("a tag that does not exist is not_found naming the reference", async (t) => {
  const { server, src } = await withSource(t, registryHandler(content), "team/app:nope");
  await assert.rejects(src.getRootManifest(), code("not_found", new RegExp(`manifest ${server.host}/team/app:nope was not found`)));
});

test("error bodies are read bounded and their text sanitised into the message", async (t) => {
  const { src } = await withSource(t, (req, res) => {
    if (req.url === "/v2/") return sendJson(res, 200, {});
    res.writeHead(404, { "content-type": "application/json" });
    res.write(JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "no such\u001b[31m tag" }] }));
    // then megabytes of junk the client must not wait for or buffer
    const junk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const pump = (): void => {
      while (sent < 8 << 20 && res.write(junk)) sent += junk.length;
      if (sent < 8 << 20) res.once("drain", pump);
      else res.end();
    };
    pump();
  });
  await assert.rejects(src.getRootManifest(), code("not_found", /was not found/));
});

test("a distribution-spec error body is quoted in the message, control characters removed", async (t) => {
  const { src } = await withSource(t, (req, res) => {
    if (req.url === "/v2/") return sendJson(res, 200, {});
    sendError(res, 404, "MANIFEST_UNKNOWN", "no such\u001b[31m tag");
  });
  await assert.rejects(src.getRootManifest(), code("not_found", /registry said: MANIFEST_UNKNOWN: no such \[31m tag\)$/));
});

test("root manifest by digest is verified against the digest", async (t) => {
  const good = content.manifests.get("v1")!;
  const wrongDigest = sha256("something else");
  const evil = { ...content, manifests: new Map([...content.manifests, [wrongDigest, good]]) };
  const { server, src } = await withSource(t, registryHandler(evil), `team/app@${wrongDigest}`);
  await assert.rejects(src.getRootManifest(), code("digest_mismatch"));
  const ok = source(server, `team/app@${sha256(good.bytes)}`);
  t.after(() => ok.close());
  assert.equal((await ok.getRootManifest()).digest, sha256(good.bytes));
});

test("a Docker-Content-Digest that disagrees with the bytes is a digest mismatch", async (t) => {
  const { src } = await withSource(t, (_req, res) => {
    res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json", "docker-content-digest": sha256("other") });
    res.end("{}");
  });
  await assert.rejects(src.getRootManifest(), code("digest_mismatch", /Docker-Content-Digest/));
});

test("getManifest checks the descriptor's size and digest", async (t) => {
  const child = content.manifests.get("v1")!;
  const { src } = await withSource(t, registryHandler(content));
  const desc = { mediaType: child.mediaType, digest: sha256(child.bytes), size: child.bytes.length };
  assert.deepEqual((await src.getManifest(desc)).bytes, child.bytes);
  await assert.rejects(src.getManifest({ ...desc, size: desc.size - 1 }), code("size_exceeded"));
  await assert.rejects(src.getManifest({ ...desc, size: desc.size + 1 }), code("digest_mismatch", /truncated/));
  await assert.rejects(src.getManifest({ ...desc, size: 5 << 20 }), code("size_exceeded", /over the manifest limit/));
});

test("a manifest over the size bound is size_exceeded, declared or streamed", async (t) => {
  const big = Buffer.alloc(2048, 0x20);
  const { src: declared } = await withSource(t, (_req, res) => {
    res.writeHead(200, { "content-type": "application/json", "content-length": String(big.length) });
    res.end(big);
  }, "team/app:v1", { manifestLimit: 1024 });
  await assert.rejects(declared.getRootManifest(), code("size_exceeded", /limit of 1024 bytes/));
  const { src: chunked } = await withSource(t, (_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.write(big.subarray(0, 1000));
    res.end(big.subarray(1000));
  }, "team/app:v1", { manifestLimit: 1024 });
  await assert.rejects(chunked.getRootManifest(), code("size_exceeded", /limit of 1024 bytes/));
});

test("a registry that hangs times out", async (t) => {
  const { src } = await withSource(t, (req, res) => {
    if (req.url === "/v2/") return sendJson(res, 200, {});
    // every other request is never answered
  }, "team/app:v1", { idleTimeoutMs: 150, retry: { attempts: 1 } });
  await assert.rejects(src.getRootManifest(), code("timeout"));
});

test("a server that accepts connections but never completes the TLS handshake hits the connect timeout", async (t) => {
  const sockets: Socket[] = [];
  const silent = createServer((s) => void sockets.push(s));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const { port } = silent.address() as AddressInfo;
  const src = new RegistrySource(parseRegistryReference(`127.0.0.1:${port}/team/app:v1`), { connectTimeoutMs: 150, retry: { attempts: 1 } });
  t.after(async () => {
    await src.close();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });
  await assert.rejects(src.getRootManifest(), code("timeout", new RegExp(`timed out after 150 ms connecting to 127.0.0.1:${port}`)));
});

test("a blob body that stalls mid-way is resumed after the idle timeout", async (t) => {
  let calls = 0;
  const { src } = await withSource(t, (req, res) => {
    if (req.url !== blobPath) return registryHandler(content)(req, res);
    if (++calls === 1) {
      res.writeHead(200, { "content-length": String(layer.length) });
      res.write(layer.subarray(0, 1000)); // then nothing
      return;
    }
    sendBlob(req, res, layer);
  }, "team/app:v1", { idleTimeoutMs: 150 });
  const { stream, offset } = await src.openBlob(layerDesc, 0);
  assert.equal(offset, 0);
  assert.ok((await collect(stream)).equals(layer));
  assert.equal(calls, 2);
});

test("redirects to another host (blob storage) carry no Authorization; same-host ones do", async (t) => {
  const storage = await startServer((req, res) => sendBlob(req, res, layer));
  t.after(() => storage.close());
  const basic = `Basic ${Buffer.from("u:p").toString("base64")}`;
  const { server, src } = await withSource(t, (req, res) => {
    if (req.url === blobPath) {
      res.writeHead(307, { location: `/same-host${blobPath}` });
      return void res.end();
    }
    if (req.url === `/same-host${blobPath}`) {
      // Userinfo in the Location must not turn into an Authorization header either.
      res.writeHead(302, { location: `http://peer:invented@${storage.host}/bucket/blob?X-Signature=secret` });
      return void res.end();
    }
    registryHandler(content, (r) => r.headers.authorization === basic)(req, res);
  }, "team/app:v1", { credentials: async () => ({ username: "u", password: "p" }) });
  const { stream } = await src.openBlob(layerDesc, 0);
  assert.ok((await collect(stream)).equals(layer));
  assert.equal(server.requests.find((r) => r.path === `/same-host${blobPath}`)?.headers.authorization, basic);
  assert.equal(storage.requests.length, 1);
  assert.equal(storage.requests[0]!.headers.authorization, undefined);
});

test("a redirect loop and too many redirects are clear errors", async (t) => {
  const { src: loop } = await withSource(t, (req, res) => {
    if (req.url === "/v2/") return sendJson(res, 200, {});
    res.writeHead(302, { location: req.url === "/a" ? "/b" : "/a" });
    res.end();
  });
  await assert.rejects(loop.getRootManifest(), code("unavailable", /redirect loop/));
  let n = 0;
  const { src: endless } = await withSource(t, (req, res) => {
    if (req.url === "/v2/") return sendJson(res, 200, {});
    res.writeHead(302, { location: `/hop${++n}` });
    res.end();
  }, "team/app:v1", { maxRedirects: 3 });
  await assert.rejects(endless.getRootManifest(), code("unavailable", /too many redirects \(more than 3\)/));
});

test("429 with Retry-After and 503 are retried, then succeed", async (t) => {
  const failures = [429, 503];
  const { server, src } = await withSource(t, (req, res) => {
    if (req.url?.includes("/manifests/") && failures.length > 0) {
      const status = failures.shift()!;
      return sendError(res, status, status === 429 ? "TOOMANYREQUESTS" : "UNAVAILABLE", "slow down", status === 429 ? { "retry-after": "0" } : {});
    }
    registryHandler(content)(req, res);
  });
  await src.getRootManifest();
  assert.equal(server.requests.filter((r) => r.path.includes("/manifests/")).length, 3);
});

test("retries are bounded: persistent 503 fails with the registry's status", async (t) => {
  const { server, src } = await withSource(t, (req, res) => {
    if (req.url === "/v2/") return sendJson(res, 200, {});
    sendError(res, 503, "UNAVAILABLE", "down for maintenance");
  });
  await assert.rejects(src.getRootManifest(), code("unavailable", /answered 503.*down for maintenance/));
  assert.equal(server.requests.filter((r) => r.path.includes("/manifests/")).length, 3);
});

test("a blob larger than declared is size_exceeded, by Content-Length or by bytes", async (t) => {
  const { src: declared } = await withSource(t, (req, res) => (req.url === blobPath ? sendBlob(req, res, Buffer.concat([layer, Buffer.from("x")])) : registryHandler(content)(req, res)));
  await assert.rejects(declared.openBlob(layerDesc, 0), code("size_exceeded", /larger than the 262144 declared/));
  const { src: chunked } = await withSource(t, (req, res) => {
    if (req.url !== blobPath) return registryHandler(content)(req, res);
    res.writeHead(200, {});
    res.write(layer);
    res.end("extra");
  });
  const { stream } = await chunked.openBlob(layerDesc, 0);
  await assert.rejects(collect(stream), code("size_exceeded", /larger than the 262144 bytes declared/));
});

test("a truncated download resumes with Range from the byte reached", async (t) => {
  let calls = 0;
  const { server, src } = await withSource(t, (req, res) => {
    if (req.url !== blobPath) return registryHandler(content)(req, res);
    if (++calls === 1) {
      res.writeHead(200, { "content-length": String(layer.length) });
      res.write(layer.subarray(0, 100_000), () => res.destroy());
      return;
    }
    sendBlob(req, res, layer);
  });
  const { stream } = await src.openBlob(layerDesc, 0);
  assert.ok((await collect(stream)).equals(layer));
  const ranges = server.requests.filter((r) => r.path === blobPath).map((r) => r.headers.range);
  assert.equal(ranges.length, 2);
  assert.equal(ranges[0], undefined);
  assert.match(ranges[1] ?? "", /^bytes=[1-9][0-9]*-$/);
});

test("a resume answered with 200 (no range support) still yields the exact blob", async (t) => {
  let calls = 0;
  const { src } = await withSource(t, (req, res) => {
    if (req.url !== blobPath) return registryHandler(content)(req, res);
    res.writeHead(200, { "content-length": String(layer.length) });
    if (++calls === 1) return void res.write(layer.subarray(0, 50_000), () => res.destroy());
    res.end(layer);
  });
  const { stream } = await src.openBlob(layerDesc, 0);
  assert.ok((await collect(stream)).equals(layer));
  assert.equal(calls, 2);
});

test("openBlob at an offset: 206 continues there, 200 starts over and says offset 0", async (t) => {
  const { src } = await withSource(t, registryHandler(content));
  const ranged = await src.openBlob(layerDesc, 1000);
  assert.equal(ranged.offset, 1000);
  assert.ok((await collect(ranged.stream)).equals(layer.subarray(1000)));
  const { src: noRanges } = await withSource(t, (req, res) => (req.url === blobPath ? void (res.writeHead(200), res.end(layer)) : registryHandler(content)(req, res)));
  const whole = await noRanges.openBlob(layerDesc, 1000);
  assert.equal(whole.offset, 0);
  assert.ok((await collect(whole.stream)).equals(layer));
});

test("a server that keeps sending short blobs fails after bounded resumes", async (t) => {
  const { server, src } = await withSource(t, (req, res) => {
    if (req.url !== blobPath) return registryHandler(content)(req, res);
    res.writeHead(200, {});
    res.end(layer.subarray(0, 10)); // a clean end, but short
  });
  const { stream } = await src.openBlob(layerDesc, 0);
  await assert.rejects(collect(stream), code("unavailable", /ended after 10 of 262144 bytes/));
  assert.equal(server.requests.filter((r) => r.path === blobPath).length, 3);
});

test("an invalid Content-Range on a resume is refused", async (t) => {
  const { src } = await withSource(t, (req, res) => {
    if (req.url !== blobPath) return registryHandler(content)(req, res);
    res.writeHead(206, { "content-range": "bytes 0-9/999" });
    res.end(layer.subarray(0, 10));
  });
  await assert.rejects(src.openBlob(layerDesc, 5), code("unavailable", /invalid Content-Range/));
});

test("an aborted blob download ends with canceled", async (t) => {
  const { src } = await withSource(t, (req, res) => {
    if (req.url !== blobPath) return registryHandler(content)(req, res);
    res.writeHead(200, { "content-length": String(layer.length) });
    res.write(layer.subarray(0, 1000)); // and then waits
  });
  const ac = new AbortController();
  const { stream } = await src.openBlob(layerDesc, 0, ac.signal);
  stream.once("data", () => ac.abort());
  await assert.rejects(collect(stream), code("canceled"));
});

test("descriptors with malformed digests never reach a URL", async (t) => {
  const { server, src } = await withSource(t, registryHandler(content));
  await assert.rejects(src.openBlob({ ...layerDesc, digest: "sha256:../../etc" }, 0), code("invalid_argument"));
  await assert.rejects(src.getManifest({ ...layerDesc, digest: "sha256:x?y" }), code("invalid_argument"));
  assert.equal(server.requests.length, 0);
});
