// Apps end to end with real guests: walkd runs inside namespace H (its taps, routes, and the
// activator on H's 127.0.0.1:8040), machines boot under QEMU TCG, and clients are node processes in
// H. Covers: 50 concurrent requests to a stopped app all succeed on one booted machine and show
// the boot in their timing headers; the idle app stops and wakes again; a deploy of a new image
// to a stopped app is served by the next request; unknown host 404; a crashing workload 502 with
// its console in walkd's log; a never-listening app 503 after the wake budget; autostop = suspend
// resumes a snapshot, refreshed before it serves. Traffic stays in H.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { access, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { importBase } from "../../src/base/index.js";
import { WalkClient } from "../../src/cli/client.js";
import { execFile } from "../../src/lib/index.js";
import { writeOciLayout } from "../fixtures/images.js";
import { Netns } from "../harness/netns.js";
import { buildTestBase } from "../harness/qemu.js";
import { buildScriptImage } from "./machine-fixture.js";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const WALKD = fileURLToPath(new URL("../../src/daemon/main.js", import.meta.url));

const serving = (text: string): string => `#!/bin/sh
mkdir -p /tmp/www && echo "${text}" > /tmp/www/index.html
echo "${text} starting"
exec httpd -f -p 8080 -h /tmp/www
`;

// A counter kept in guest memory only (a tmpfs): a reboot starts it over, a restore keeps it.
const COUNTER = `#!/bin/sh
mkdir -p /tmp/srv/cgi-bin /tmp/mem && mount -t tmpfs tmpfs /tmp/mem || exit 1
printf '%s\\n' '#!/bin/sh' 'n=$(cat /tmp/mem/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/mem/n' 'printf "Content-Type: text/plain\\r\\n\\r\\n%s\\n" "$n"' > /tmp/srv/cgi-bin/count
chmod +x /tmp/srv/cgi-bin/count
echo counter ready
exec httpd -f -p 8080 -h /tmp/srv
`;

// Concurrent GETs to the activator from inside H; prints one JSON array of results.
const CLIENT = `
import http from "node:http";
const [host, n, path] = [process.argv[2], Number(process.argv[3]), process.argv[4] ?? "/"];
const one = () => new Promise((resolve) => {
  const req = http.request({ host: "127.0.0.1", port: 8040, path, headers: { host }, agent: false }, (res) => {
    let body = "";
    res.setEncoding("utf8");
    res.on("data", (d) => (body += d));
    res.on("end", () => resolve({ status: res.statusCode, wake: res.headers["x-walk-wake"] ?? null, retryAfter: res.headers["retry-after"] ?? null, body: body.trim() }));
  });
  req.on("error", (e) => resolve({ status: 0, body: String(e) }));
  req.end();
});
console.log(JSON.stringify(await Promise.all(Array.from({ length: n }, one))));
`;

interface Got {
  status: number;
  wake: string | null;
  retryAfter: string | null;
  body: string;
}

let dir: string;
let H: Netns;
let walkd: ChildProcess | undefined;
let client: WalkClient;
const images: Record<string, string> = {};
const walkdLog: string[] = [];

async function get(host: string, n = 1, path = "/"): Promise<Got[]> {
  const r = await execFile("ip", ["netns", "exec", H.name, process.execPath, join(dir, "client.mjs"), host, String(n), path], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`client in H failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Got[];
}

const toml = (name: string, image: string, extra = ""): string => `name = "${name}"\nimage = "${image}"\nmemory_mib = 128\n[[services]]\ninternal_port = 8080\n${extra}\n`;

async function until(what: string, fn: () => Promise<boolean>, tries = 400): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`gave up waiting for ${what}`);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "walk-apps-qemu-"));
  H = await Netns.create("ah");
  const base = await buildTestBase(REPO_ROOT, join(dir, "base"));
  await mkdir(join(dir, "data"), { recursive: true });
  await importBase(join(dir, "data"), { kernel: base.kernel, rootfs: base.rootfs });
  const layout = join(dir, "layout");
  await writeOciLayout(layout, [
    { image: await buildScriptImage(serving("v1")), tag: "v1" },
    { image: await buildScriptImage(serving("v2")), tag: "v2" },
    { image: await buildScriptImage('#!/bin/sh\necho "fatal: no database configured"\nexit 3\n'), tag: "crash" },
    { image: await buildScriptImage("#!/bin/sh\nexec sleep 600\n"), tag: "mute" },
    { image: await buildScriptImage(COUNTER), tag: "counter" },
  ]);
  for (const tag of ["v1", "v2", "crash", "mute", "counter"]) images[tag] = `oci:${layout}:${tag}`;
  await writeFile(join(dir, "client.mjs"), CLIENT);
  await writeFile(
    join(dir, "walkd.toml"),
    `[machines]\nbackend = "qemu"\npoll_ms = 50\nstop_timeout = 5\n[qemu]\naccel = "tcg"\n[network]\npool = "10.233.0.0/24"\n[activator]\nlisten = "127.0.0.1:8040"\n`,
  );
  const sock = join(dir, "run", "walkd.sock");
  walkd = spawn("ip", ["netns", "exec", H.name, process.execPath, WALKD, "--config", join(dir, "walkd.toml"), "--data-dir", join(dir, "data"), "--runtime-dir", join(dir, "run"), "--log-level", "info"], { stdio: ["ignore", "ignore", "pipe"] });
  walkd.stderr!.setEncoding("utf8").on("data", (d: string) => walkdLog.push(d));
  client = new WalkClient({ kind: "unix", path: sock });
  await until("walkd in H", async () => (await access(sock).then(() => true, () => false)) && (await client.apps().then(() => true, () => false)), 300);
});

after(async () => {
  for (const a of (await client?.apps().catch(() => [])) ?? []) await client.removeApp(a.name).catch(() => undefined);
  if (walkd && walkd.exitCode === null) {
    const exited = new Promise((r) => walkd!.once("exit", r));
    walkd.kill("SIGTERM");
    await exited;
  }
  await H?.destroy();
  await rm(dir, { recursive: true, force: true });
});

test("a stopped app: 50 concurrent cold requests succeed on one booted machine; idle stops it, a request wakes it; a new image is served after a deploy", async () => {
  const dep = await client.deploy({ config: toml("web", images.v1!, `idle_timeout = 2\nwake_timeout = 90\nhealth_check = { type = "http", path = "/" }`) });
  assert.equal(dep.rollout, "recorded");
  assert.deepEqual(await client.machines(true), [], "nothing boots at deploy");

  const cold = await get("web.localhost", 50);
  assert.deepEqual(cold.map((r) => r.status), Array(50).fill(200), JSON.stringify(cold.find((r) => r.status !== 200)));
  assert.ok(cold.every((r) => r.body === "v1"));
  assert.ok(cold.every((r) => /^boot;dur=\d/.test(r.wake ?? "")), `every cold request shows the boot: ${cold[0]!.wake}`);
  const machines = await client.machines(true);
  assert.equal(machines.length, 1, "one machine for 50 concurrent cold requests");
  const m = machines[0]!;
  assert.equal(m.name, "web-g1");

  await until("the idle app's machine stops", async () => (await client.machine(m.id)).state === "stopped");
  const [again] = await get("web.localhost");
  assert.equal(again!.status, 200);
  assert.equal(again!.body, "v1");
  assert.match(again!.wake ?? "", /^boot;/);
  assert.deepEqual((await client.machines(true)).map((x) => x.id), [m.id], "the same machine was started again");

  await until("the idle app's machine stops again", async () => (await client.machine(m.id)).state === "stopped");
  const redeploy = await client.deploy({ config: toml("web", images.v2!, `idle_timeout = 2\nwake_timeout = 90`) });
  assert.equal(redeploy.rollout, "recorded");
  assert.equal(redeploy.app.generation, 2);
  const [v2] = await get("web.localhost");
  assert.equal(v2!.status, 200);
  assert.equal(v2!.body, "v2", "the next request is served by the new image");
  assert.equal((await client.machine(m.id)).state, "destroyed", "the old generation's machine is gone");
  const logs = [];
  for await (const c of client.appLogs("web")) logs.push(c);
  assert.match(Buffer.concat(logs).toString("utf8"), /v2 starting/, "walk apps logs shows the app's machine's console");
});

test("unknown host 404; a crashing workload 502 with its console in walkd's log; a never-listening app 503 after the wake budget", async () => {
  const [unknown] = await get("nope.localhost");
  assert.equal(unknown!.status, 404);

  await client.deploy({ config: toml("boom", images.crash!, "wake_timeout = 90") });
  const [crashed] = await get("boom.localhost");
  assert.equal(crashed!.status, 502);
  assert.ok(!crashed!.body.includes("no database"), "the console is not in the response");
  await until("walkd logs the crashed app's console", async () => walkdLog.join("").includes("fatal: no database configured"));

  await client.deploy({ config: toml("mute", images.mute!, "wake_timeout = 3") });
  const [mute] = await get("mute.localhost");
  assert.equal(mute!.status, 503);
  assert.notEqual(mute!.retryAfter, null, "503 carries Retry-After");
});

test("autostop = suspend: a counter in guest memory survives sleep and wake (QEMU migrate to file, -incoming); a deploy invalidates the snapshot", async (t) => {
  const cfg = `autostop = "suspend"\nidle_timeout = 2\nwake_timeout = 90\nhealth_check = { type = "tcp" }`;
  await client.deploy({ config: toml("ctr", images.counter!, cfg) });
  const counts: string[] = [];
  let bootWake = "";
  for (let i = 0; i < 3; i++) {
    const [r] = await get("ctr.localhost", 1, "/cgi-bin/count");
    assert.equal(r!.status, 200, r!.body);
    counts.push(r!.body);
    if (i === 0) bootWake = r!.wake ?? "";
  }
  assert.deepEqual(counts, ["1", "2", "3"]);
  await until("the idle app is suspended", async () => (await client.app("ctr")).snapshot_generation === 1);
  const m = (await client.app("ctr")).machine_id!;
  assert.equal((await client.machine(m)).state, "stopped", "a suspended machine is stopped (its VMM is gone)");

  const [woke] = await get("ctr.localhost", 1, "/cgi-bin/count");
  assert.equal(woke!.status, 200, woke!.body);
  assert.equal(woke!.body, "4", "the in-memory counter survived the suspend");
  assert.match(woke!.wake ?? "", /^resume;dur=/);
  // The request was forwarded only after the restored guest confirmed its clock and entropy refresh.
  const refreshed = walkdLog
    .join("")
    .split("\n")
    .map((l) => (l.startsWith("{") && l.endsWith("}") ? (JSON.parse(l) as Record<string, unknown>) : {}))
    .find((l) => l.msg === "restored guest: clock set and entropy reseeded" && l.machine === m);
  assert.ok(refreshed, "walkd logged the refresh of the restored guest");
  t.diagnostic(`cold path under TCG: ${bootWake} versus ${woke!.wake} (of which restore ${String(refreshed.restore_ms)} ms, refresh ${String(refreshed.refresh_ms)} ms)`);

  await until("suspended again", async () => (await client.app("ctr")).snapshot_generation === 1);
  const redeploy = await client.deploy({ config: toml("ctr", images.counter!, cfg.replace("idle_timeout = 2", "idle_timeout = 3")) });
  assert.equal(redeploy.app.snapshot_generation, null, "a deploy drops the snapshot");
  const [fresh] = await get("ctr.localhost", 1, "/cgi-bin/count");
  assert.equal(fresh!.body, "1", "the new generation boots with fresh memory");
  assert.match(fresh!.wake ?? "", /^boot;/);
});
