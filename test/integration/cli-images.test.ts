// `walk image …` and `walk login` end to end: the real CLI binary, a real walkd on a temp data dir,
// and Debian's docker-registry on 127.0.0.1. Checks what a user sees and what is left on disk.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSampleImage } from "../fixtures/images.js";
import { startRegistry } from "../harness/registry.js";
import { startTestDaemon } from "../harness/daemon.js";
import { runCli } from "../harness/cli.js";
import type { ImageDetailWire, ImageSummaryWire } from "../../src/api/schemas.js";

test("pull, list, inspect, remove and prune through the CLI", async (t) => {
  const registry = await startRegistry({ mode: "plain" });
  t.after(() => registry.stop());
  const image = await buildSampleImage();
  await registry.push("team/app", "1", image);
  const d = await startTestDaemon();
  t.after(() => d.close());
  const walk = (...args: string[]) => runCli(d.daemon.socketPath, args);
  const ref = `${registry.host}/team/app:1`;

  const pulled = await walk("image", "pull", ref);
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.match(pulled.stdout, new RegExp(`Digest: ${image.digest}`));
  // Not a terminal: one plain line per layer status change, no cursor movement.
  assert.ok(!pulled.stderr.includes("\u001b["), "no terminal escapes in non-TTY output");
  for (const l of image.layers) assert.match(pulled.stderr, new RegExp(`${l.digest.slice(7, 19)}: done`));

  const again = await walk("image", "pull", "-q", ref);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout.trim(), image.digest);

  const ls = await walk("image", "ls", "--json");
  const list = JSON.parse(ls.stdout) as ImageSummaryWire[];
  assert.equal(list.length, 1);
  assert.deepEqual(list[0]!.tags, [ref]);
  assert.equal(list[0]!.digest, image.digest);

  const inspected = JSON.parse((await walk("image", "inspect", "--json", ref)).stdout) as ImageDetailWire;
  assert.deepEqual(inspected.config.entrypoint, ["/usr/bin/app"]);
  assert.deepEqual(inspected.config.cmd, ["--serve"]);
  assert.equal(inspected.config.workdir, "/srv");
  assert.equal(inspected.config.user, "1000:1000");
  assert.deepEqual(inspected.config.exposed_ports, ["8080/tcp"]);
  assert.deepEqual(
    inspected.layers.map((l) => [l.digest, l.size]),
    image.layers.map((l) => [l.digest, l.size]),
  );
  const byPrefix = await walk("image", "inspect", image.digest.slice(7, 19));
  assert.equal(byPrefix.code, 0, byPrefix.stderr);
  assert.match(byPrefix.stdout, /Entrypoint: +\["\/usr\/bin\/app"\]/);

  const rm1 = await walk("image", "rm", ref);
  assert.equal(rm1.code, 0, rm1.stderr);
  assert.match(rm1.stdout, new RegExp(`Deleted: ${image.digest}`));
  assert.deepEqual(JSON.parse((await walk("image", "ls", "--json")).stdout), []);

  const pruned = await walk("image", "prune", "--json");
  const result = JSON.parse(pruned.stdout) as { removed_blobs: string[] };
  const expected = [image.manifest.digest, image.config.digest, ...image.layers.map((l) => l.digest)].sort();
  assert.deepEqual(result.removed_blobs.sort(), expected);
  assert.deepEqual(await readdir(join(d.config.dataDir, "content", "blobs", "sha256")), []);
});

test("bad references and missing tags fail with a clear message and store nothing", async (t) => {
  const registry = await startRegistry({ mode: "plain" });
  t.after(() => registry.stop());
  const d = await startTestDaemon();
  t.after(() => d.close());
  const walk = (...args: string[]) => runCli(d.daemon.socketPath, args);

  const bad = await walk("image", "pull", "UPPER/Case");
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /invalid image reference "UPPER\/Case"/);

  const missing = await walk("image", "pull", `${registry.host}/nope/none:v9`);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, new RegExp(`${registry.host}/nope/none:v9`));

  const noImage = await walk("image", "inspect", "nginx");
  assert.equal(noImage.code, 1);
  assert.match(noImage.stderr, /no image docker\.io\/library\/nginx:latest/);

  assert.deepEqual(JSON.parse((await walk("image", "ls", "--json")).stdout), []);
  assert.deepEqual(await readdir(join(d.config.dataDir, "content", "blobs", "sha256")), []);
});

test("walk login checks credentials through walkd, saves only good ones, and pulls use them", async (t) => {
  const registry = await startRegistry({ mode: "tls-basic" });
  t.after(() => registry.stop());
  const image = await buildSampleImage();
  await registry.push("private/app", "1", image);
  const dir = await mkdtemp(join(tmpdir(), "walk-login-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const configFile = join(dir, "walkd.toml");
  await writeFile(configFile, `[registry]\ncerts_dirs = [${JSON.stringify(registry.certsDir)}]\n`);
  const d = await startTestDaemon({ flags: { config: configFile } });
  t.after(() => d.close());
  const dockerConfig = join(dir, "docker");
  const walk = (args: string[], input?: string) => runCli(d.daemon.socketPath, args, { env: { DOCKER_CONFIG: dockerConfig }, input });
  const { username, password } = registry.credentials!;

  const noCreds = await walk(["image", "pull", `${registry.host}/private/app:1`]);
  assert.equal(noCreds.code, 1);
  assert.match(noCreds.stderr, /unauthori[sz]ed|credentials|authentication/i);

  const wrong = await walk(["login", registry.host, "-u", username, "--password-stdin"], "not-the-password\n");
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, new RegExp(registry.host.replace(/\./g, "\\.")));
  assert.doesNotMatch(wrong.stderr, /not-the-password/);
  await assert.rejects(readFile(join(dockerConfig, "config.json")), { code: "ENOENT" });

  const ok = await walk(["login", registry.host, "-u", username, "--password-stdin"], `${password}\n`);
  assert.equal(ok.code, 0, ok.stderr);
  const saved = JSON.parse(await readFile(join(dockerConfig, "config.json"), "utf8")) as { auths: Record<string, { auth: string }> };
  assert.equal(Buffer.from(saved.auths[registry.host]!.auth, "base64").toString(), `${username}:${password}`);

  const pulled = await walk(["image", "pull", "-q", `${registry.host}/private/app:1`]);
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.equal(pulled.stdout.trim(), image.digest);
  // The job record keeps the reference, never the credentials.
  const jobs = await d.client.json<{ request: unknown }[]>("GET", "/v1/jobs");
  assert.doesNotMatch(JSON.stringify(jobs), new RegExp(password));
});
