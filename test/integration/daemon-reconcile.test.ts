// What walkd guarantees across clients that vanish and daemons that stop: a pull whose follower
// disconnects still completes and is recorded; on start, leftover temp files go, interrupted
// jobs are marked failed, and a blob whose file vanished is marked missing, not silently ignored.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { mkdtemp, readdir, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { buildLargeImage, buildSampleImage, writeOciLayout } from "../fixtures/images.js";
import { startTestDaemon } from "../harness/daemon.js";
import { TEMP_PREFIX } from "../../src/lib/index.js";

test("a pull keeps going when its follower disconnects, and is recorded once done", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "walk-disconnect-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const image = await buildLargeImage({ totalBytes: 24 << 20, layers: 4, seed: "disconnect" });
  await writeOciLayout(join(dir, "layout"), [{ image, tag: "big" }]);
  const d = await startTestDaemon();
  t.after(() => d.close());

  const job = await d.client.pull({ reference: `oci:${join(dir, "layout")}:big` });
  // Read one event, then drop the connection mid-stream.
  await new Promise<void>((resolve, reject) => {
    const req = http.get({ socketPath: d.daemon.socketPath, path: `/v1/jobs/${job.id}/events`, agent: false }, (res) => {
      res.once("data", () => {
        req.destroy();
        resolve();
      });
    });
    req.on("error", (e: NodeJS.ErrnoException) => (e.code === "ECONNRESET" ? resolve() : reject(e)));
  });
  let end: { type: string; state?: unknown } | undefined;
  for await (const e of d.client.jobEvents(job.id)) end = e;
  assert.equal(end?.state, "succeeded");
  const img = await d.client.image(image.digest);
  assert.deepEqual(
    img.layers.map((l) => l.digest),
    image.layers.map((l) => l.digest),
  );
});

test("startup reconcile removes temp files, fails interrupted jobs and marks missing blobs", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "walk-reconcile-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const image = await buildSampleImage();
  await writeOciLayout(join(dir, "layout"), [{ image, tag: "v1" }]);
  const d = await startTestDaemon();
  t.after(() => d.close());
  const job = await d.client.pull({ reference: `oci:${join(dir, "layout")}:v1` });
  for await (const _ of d.client.jobEvents(job.id)) {
    // wait for the end
  }
  await d.stop();

  const blobs = join(d.config.dataDir, "content", "blobs", "sha256");
  const layer = image.layers[0]!.digest.slice("sha256:".length);
  await unlink(join(blobs, layer));
  const stray = join(blobs, `${TEMP_PREFIX}crashed`);
  await writeFile(stray, "half a blob");
  const db = new Database(join(d.config.dataDir, "walk.db"));
  db.prepare("INSERT INTO jobs (id, kind, state, request, created_at, updated_at) VALUES (?, 'pull', 'running', '{}', ?, ?)").run(
    "f".repeat(32),
    new Date().toISOString(),
    new Date().toISOString(),
  );
  db.close();

  const again = await startTestDaemon({ dir: d.dir });
  t.after(() => again.close());
  assert.ok(!(await readdir(blobs)).includes(`${TEMP_PREFIX}crashed`), "the stray temp file is gone");
  const interrupted = await again.client.job("f".repeat(32));
  assert.equal(interrupted.state, "failed");
  assert.match(interrupted.error?.error ?? "", /walkd stopped/);
  await again.stop();
  const check = new Database(join(d.config.dataDir, "walk.db"), { readonly: true });
  const rows = check.prepare("SELECT digest, missing FROM blobs ORDER BY digest").all() as { digest: string; missing: number }[];
  check.close();
  assert.deepEqual(
    rows.filter((r) => r.missing === 1).map((r) => r.digest),
    [image.layers[0]!.digest],
  );
});
