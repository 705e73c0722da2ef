// walkd end to end over its real Unix socket and TCP listener: versions, the error shape, the
// data-dir lock, socket permissions, the TCP token and Host-header guards, and a missing daemon.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { stat, writeFile, chmod } from "node:fs/promises";
import { join } from "node:path";
import { WALK_VERSION } from "../../src/lib/index.js";
import { WalkClient } from "../../src/cli/client.js";
import { startTestDaemon } from "../harness/daemon.js";

function rawGet(opts: http.RequestOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ ...opts, method: opts.method ?? "GET", agent: false }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("walkd serves its version on a 0600 root-owned socket", async (t) => {
  const d = await startTestDaemon();
  t.after(() => d.close());
  assert.deepEqual(await d.client.version(), { version: WALK_VERSION, api_version: "v1" });
  const st = await stat(d.daemon.socketPath);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o600);
  assert.equal(st.uid, 0);
});

test("errors have one shape with a stable code", async (t) => {
  const d = await startTestDaemon();
  t.after(() => d.close());
  const notFound = await rawGet({ socketPath: d.daemon.socketPath, path: "/v1/nope" });
  assert.equal(notFound.status, 404);
  assert.deepEqual(Object.keys(JSON.parse(notFound.body) as object).sort(), ["code", "error"]);
  assert.equal((JSON.parse(notFound.body) as { code: string }).code, "not_found");

  const badJob = await rawGet({ socketPath: d.daemon.socketPath, path: "/v1/jobs/not-an-id" });
  assert.equal(badJob.status, 400);
  assert.equal((JSON.parse(badJob.body) as { code: string }).code, "invalid_argument");

  await assert.rejects(d.client.image("sha256:" + "0".repeat(64)), (e: Error & { code?: string }) => e.code === "not_found" && /no image/.test(e.message));
});

test("a second walkd on the same data dir is refused while the first runs, and starts after it stops", async (t) => {
  const first = await startTestDaemon();
  t.after(() => first.close());
  await assert.rejects(
    startTestDaemon({ dir: first.dir, flags: { socket: join(first.dir, "other.sock") } }),
    (e: Error & { code?: string }) => e.code === "conflict" && /another walkd \(pid \d+\)/.test(e.message),
  );
  // The refused daemon must not have removed the running one's socket.
  assert.equal((await first.client.version()).version, WALK_VERSION);
  await first.stop();
  const second = await startTestDaemon({ dir: first.dir });
  await second.stop();
});

test("a lock left by a dead walkd is taken over", async (t) => {
  const d = await startTestDaemon();
  t.after(() => d.close());
  await d.stop();
  // pid 1's start time never equals this fake one, so the lock is stale.
  await writeFile(join(d.config.dataDir, "walkd.lock"), "1 999999999999\n");
  const again = await startTestDaemon({ dir: d.dir });
  assert.equal((await again.client.version()).version, WALK_VERSION);
  await again.stop();
});

test("the TCP listener requires the bearer token and a loopback Host header", async (t) => {
  const base = await startTestDaemon();
  await base.stop();
  const tokenFile = join(base.dir, "token");
  await writeFile(tokenFile, "s3cret-token-0123456789\n");
  await chmod(tokenFile, 0o600);
  const d = await startTestDaemon({ dir: base.dir, flags: { tcp: "127.0.0.1:0", tokenFile } });
  t.after(() => d.close());
  const port = d.daemon.tcpAddress!.port;

  const noToken = await rawGet({ host: "127.0.0.1", port, path: "/v1/version" });
  assert.equal(noToken.status, 401);
  assert.equal((JSON.parse(noToken.body) as { code: string }).code, "unauthorized");

  const wrong = await rawGet({ host: "127.0.0.1", port, path: "/v1/version", headers: { authorization: "Bearer s3cret-token-0123456780" } });
  assert.equal(wrong.status, 401);

  const rebinding = await rawGet({
    host: "127.0.0.1",
    port,
    path: "/v1/version",
    headers: { host: `evil.example:${port}`, authorization: "Bearer s3cret-token-0123456789" },
  });
  assert.equal(rebinding.status, 403);
  assert.equal((JSON.parse(rebinding.body) as { code: string }).code, "forbidden");

  const ok = new WalkClient({ kind: "tcp", host: "127.0.0.1", port, token: "s3cret-token-0123456789" });
  assert.equal((await ok.version()).version, WALK_VERSION);
});

test("a token file readable by others is refused", async (t) => {
  const base = await startTestDaemon();
  await base.stop();
  t.after(() => base.close());
  const tokenFile = join(base.dir, "token");
  await writeFile(tokenFile, "s3cret-token-0123456789\n");
  await chmod(tokenFile, 0o644);
  await assert.rejects(startTestDaemon({ dir: base.dir, flags: { tcp: "127.0.0.1:0", tokenFile } }), /must not be readable by group or others/);
});

test("the client says how to start walkd when none is running", async () => {
  const c = new WalkClient({ kind: "unix", path: "/nonexistent/walkd.sock" });
  await assert.rejects(c.version(), (e: Error & { code?: string }) => e.code === "unavailable" && /sudo walkd/.test(e.message));
});
