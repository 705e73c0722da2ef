// Machines with networking end to end: a real walkd runs inside namespace H (its taps, walk's
// table, proxies and DNS forwarder live there), O stands in for the internet and serves TCP and
// DNS. Two real guests boot under QEMU TCG: B serves HTTP unpublished, A publishes 127.0.0.1:18080
// and checks from inside what it can and cannot reach. Then walkd crashes, an orphaned walk tap
// appears, and the next walkd restores A's published port and deletes the orphan. Port errors are
// checked before any boot. Traffic goes only to H's loopback and namespaces this test made.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { importBase } from "../../src/base/index.js";
import { WalkClient } from "../../src/cli/client.js";
import type { MachineWire } from "../../src/api/machine-schemas.js";
import { writeOciLayout } from "../fixtures/images.js";
import { runCli } from "../harness/cli.js";
import { Netns, linkOutsideWorld } from "../harness/netns.js";
import { buildTestBase } from "../harness/qemu.js";
import { buildScriptImage } from "./machine-fixture.js";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const WALKD = fileURLToPath(new URL("../../src/daemon/main.js", import.meta.url));

let dir: string;
let H: Netns, O: Netns;
let walkd: ChildProcess | undefined;
let client: WalkClient;
let imageA: string, imageB: string;

const B_SCRIPT = `#!/bin/sh
mkdir -p /tmp/www && echo "served by B" > /tmp/www/index.html
httpd -p 8080 -h /tmp/www
echo B-READY
exec sleep 600
`;

// (The image's busybox is static glibc, whose wget crashes on name lookups: HTTP requests go through nc.)
const A_SCRIPT = `#!/bin/sh
mkdir -p /tmp/www && echo "served by A" > /tmp/www/index.html
httpd -p 8080 -h /tmp/www
GW=$(ip route | awk '/^default/ {print $3}')
echo "<<NET"; ip -4 addr show dev eth0; ip route; cat /sys/class/net/eth0/mtu; cat /etc/resolv.conf /etc/hosts; echo "NET>>"
echo "EGRESS: $(nc -w 5 203.0.113.1 80 </dev/null 2>&1)"
echo "PEER: $(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 10.232.0.2 8080 2>&1)"
echo "HOSTSVC: $(nc -w 5 203.0.113.2 9000 </dev/null 2>&1)"
echo "GATEWAYSVC: $(nc -w 5 $GW 9001 </dev/null 2>&1)"
echo "METADATA: $(nc -w 5 169.254.169.254 80 </dev/null 2>&1)"
echo "DNS: $(nslookup svc.walk.test 2>&1 | grep -c 198.51.100.7)"
echo CHECKS-DONE
exec sleep 600
`;

async function startWalkd(): Promise<void> {
  const sock = join(dir, "run", "walkd.sock");
  await rm(sock, { force: true });
  walkd = spawn("ip", ["netns", "exec", H.name, process.execPath, WALKD, "--config", join(dir, "walkd.toml"), "--data-dir", join(dir, "data"), "--runtime-dir", join(dir, "run"), "--log-level", "warn"], { stdio: ["ignore", "inherit", "inherit"] });
  for (let i = 0; i < 300; i++) {
    if (await access(sock).then(() => true, () => false)) {
      client = new WalkClient({ kind: "unix", path: sock });
      if (await client.machines(true).then(() => true, () => false)) return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("walkd did not come up in namespace H");
}

async function crashWalkd(): Promise<void> {
  const w = walkd;
  walkd = undefined;
  if (!w || w.exitCode !== null) return;
  const exited = new Promise((r) => w.once("exit", r));
  w.kill("SIGKILL");
  await exited;
}

/** GET from inside H (its loopback or a guest address). */
async function httpGet(url: string): Promise<string> {
  const r = await H.exec("curl", ["-sS", "--max-time", "5", url]);
  return r.code === 0 ? r.stdout : `failed: ${r.stderr.trim()}`;
}

async function until(what: string, fn: () => Promise<boolean>, m?: MachineWire, tries = 600): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`gave up waiting for ${what}${m ? `; the console of ${m.name} ends with: ${(await consoleOf(m)).slice(-3000)}` : ""}`);
}

const consoleOf = (m: MachineWire): Promise<string> => readFile(m.paths.console_log, "utf8").catch(() => "");

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "walk-machine-net-"));
  H = await Netns.create("mh");
  O = await Netns.create("mo");
  await linkOutsideWorld(H, O);
  await H.startProbe(["tcp-server", "0.0.0.0", "9001"]);
  await H.startProbe(["tcp-server", "127.0.0.1", "18081"]);
  const base = await buildTestBase(REPO_ROOT, join(dir, "base"));
  await mkdir(join(dir, "data"), { recursive: true });
  await importBase(join(dir, "data"), { kernel: base.kernel, rootfs: base.rootfs });
  const layout = join(dir, "layout");
  await writeOciLayout(layout, [
    { image: await buildScriptImage(A_SCRIPT), tag: "a" },
    { image: await buildScriptImage(B_SCRIPT), tag: "b" },
  ]);
  imageA = `oci:${layout}:a`;
  imageB = `oci:${layout}:b`;
  await writeFile(
    join(dir, "walkd.toml"),
    `[machines]\nbackend = "qemu"\npoll_ms = 50\nstop_timeout = 10\n[qemu]\naccel = "tcg"\n[network]\npool = "10.232.0.0/24"\nmtu = 1400\ndns_upstreams = ["203.0.113.1:53"]\n`,
  );
  await startWalkd();
});

after(async () => {
  for (const m of await client?.machines(true).catch(() => []) ?? []) await client.removeMachine(m.id, true).catch(() => undefined);
  await crashWalkd();
  for (const n of [H, O]) await n?.destroy();
  await rm(dir, { recursive: true, force: true });
});

test("port errors are reported before anything is created or booted", async () => {
  const count = async (): Promise<number> => (await client.machines(true)).length;
  const before = await count();
  await assert.rejects(client.createMachine({ image: imageB, ports: ["8080"] }), /invalid port spec "8080": a host port is required/);
  await assert.rejects(client.createMachine({ image: imageB, ports: ["127.0.0.1:80:80"] }), /host port 80 .* is privileged/);
  await assert.rejects(client.createMachine({ image: imageB, network: "none", ports: ["18090:80"] }), /network "none" cannot publish ports/);
  // A port a process in walkd's namespace holds.
  await assert.rejects(client.createMachine({ image: imageB, ports: ["127.0.0.1:18081:80"] }), /18081/);
  const sock = join(dir, "run", "walkd.sock");
  const bad = await runCli(sock, ["run", "-d", "-p", "8080:80/sctp", "oci:/nonexistent:x"]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /invalid port spec "8080:80\/sctp": the protocol must be tcp or udp/);
  const both = await runCli(sock, ["run", "-d", "--net", "none", "-p", "8080:80", "oci:/nonexistent:x"]);
  assert.match(both.stderr, /--net none and -p exclude each other/);
  assert.equal(await count(), before);
  const none = await client.createMachine({ image: imageB, network: "none" });
  assert.deepEqual([none.network, none.net], ["none", null]);
  await client.removeMachine(none.id, true);
});

test("two real guests: published port, NAT out, isolation, DNS; a walkd crash keeps A's networking and cleans the tap of a VM that died meanwhile", async () => {
  const b = await client.createMachine({ image: imageB, name: "peer-b", start: true });
  assert.equal(b.state, "started", b.last_error ?? "");
  assert.equal(b.net?.ip, "10.232.0.2");
  await until("B serving the host", async () => (await httpGet("http://10.232.0.2:8080/")).includes("served by B"), b);

  const a = await client.createMachine({ image: imageA, name: "web-a", start: true, ports: ["127.0.0.1:18080:8080"] });
  assert.equal(a.state, "started", a.last_error ?? "");
  const n = a.net!;
  assert.deepEqual([n.ip, n.gateway, n.prefix, n.mtu, n.dns], ["10.232.0.6", "10.232.0.5", 30, 1400, ["10.232.0.5"]]);
  assert.deepEqual(n.ports, [{ host_ip: "127.0.0.1", host_port: 18080, guest_port: 8080, protocol: "tcp" }]);
  assert.match(n.tap, /^wk[0-9a-f]{12}$/);
  assert.match(n.mac, /^02(:[0-9a-f]{2}){5}$/);
  assert.match(await H.check("ip", ["-o", "link", "show", n.tap]), new RegExp(n.tap));

  // Another machine asking for the same host port is refused before it boots.
  await assert.rejects(client.createMachine({ image: imageB, ports: ["127.0.0.1:18080:80"] }), /18080.*already published by machine/);

  await until("A's checks", async () => (await consoleOf(a)).includes("CHECKS-DONE"), a);
  await until("A's published port", async () => (await httpGet("http://127.0.0.1:18080/")).includes("served by A"), a);
  const out = await consoleOf(a);
  assert.match(out, /inet 10\.232\.0\.6\/30/);
  assert.match(out, /default via 10\.232\.0\.5 dev eth0/);
  assert.match(out, /\n1400\r?\n/);
  assert.match(out, /nameserver 10\.232\.0\.5/);
  assert.match(out, /10\.232\.0\.6\s+web-a/);
  assert.match(out, /EGRESS: hello from 203\.0\.113\.1:80 to 203\.0\.113\.2/);
  assert.doesNotMatch(out, /PEER: served by B/);
  assert.match(out, /PEER: nc: can't connect to remote host \(10\.232\.0\.2\): No route to host/);
  assert.doesNotMatch(out, /HOSTSVC: hello/);
  assert.doesNotMatch(out, /GATEWAYSVC: hello/);
  assert.doesNotMatch(out, /METADATA: hello/);
  assert.match(out, /DNS: [1-9]/);

  // Crash walkd; B's VM dies while walkd is away, so its tap is an orphan. A walk-looking tap of a
  // machine this walkd never knew (another walkd's) must survive the reconcile.
  const bPid = (await client.machine(b.id)).vm!.pid;
  await crashWalkd();
  process.kill(bPid, "SIGKILL");
  await until("B's QEMU to end", async () => !(await access(`/proc/${bPid}`).then(() => true, () => false)));
  const foreign = "wkdeadbeef0001";
  await H.check("ip", ["tuntap", "add", "dev", foreign, "mode", "tap"]);
  await H.check("ip", ["link", "set", foreign, "alias", "walk:deadbeef0001aaaa"]);
  await startWalkd();
  await until("A's published port after the restart", async () => (await httpGet("http://127.0.0.1:18080/")).includes("served by A"), a);
  const links = await H.check("ip", ["-o", "link", "show"]);
  assert.doesNotMatch(links, new RegExp(b.net.tap));
  assert.match(links, new RegExp(n.tap));
  assert.match(links, new RegExp(foreign));
  await H.check("ip", ["link", "del", foreign]);
  assert.equal((await client.machine(b.id)).state, "failed");
  const again = await client.machine(a.id);
  assert.deepEqual([again.state, again.net], ["started", n]);

  // What the CLI shows.
  const sock = join(dir, "run", "walkd.sock");
  const inspect = (await runCli(sock, ["inspect", "web-a"])).stdout;
  assert.match(inspect, new RegExp(`Network: +default: 10\\.232\\.0\\.6/30 via 10\\.232\\.0\\.5, MTU 1400, DNS 10\\.232\\.0\\.5\n`));
  assert.match(inspect, new RegExp(`Interface: +tap ${n.tap}, MAC ${n.mac}\n`));
  assert.match(inspect, /Ports: +127\.0\.0\.1:18080->8080\/tcp\n/);
  assert.match((await runCli(sock, ["ps"])).stdout, /^ID +NAME +IMAGE +STATE +UPTIME +EXIT +PORTS +BACKEND\n(.*\n)*[0-9a-f]{12} +web-a +\S+ +started .* 127\.0\.0\.1:18080->8080\/tcp +qemu\n/);

  // Stop: the published port and the tap go; the lease (IP, MAC, tap name) stays for the next start.
  const stopped = await client.machineAction(a.id, "kill");
  assert.equal(stopped.state, "stopped");
  assert.match(await httpGet("http://127.0.0.1:18080/"), /^failed/);
  assert.doesNotMatch(await H.check("ip", ["-o", "link", "show"]), new RegExp(n.tap));
  assert.deepEqual(stopped.net, n);
  // Started again, it has the same address, MAC and tap, and serves again.
  const restarted = await client.machineAction(a.id, "start");
  assert.deepEqual([restarted.state, restarted.net], ["started", n]);
  await until("A's published port after a start", async () => (await httpGet("http://127.0.0.1:18080/")).includes("served by A"), a);
  await client.removeMachine(a.id, true);
  await client.removeMachine(b.id, true);
  // Removing frees the addresses: the next machine gets the first block again.
  const c = await client.createMachine({ image: imageB, name: "reuse-c" });
  assert.equal(c.net?.ip, "10.232.0.2");
  await client.removeMachine(c.id, true);
});

test("a start whose published port was taken since create fails cleanly: no tap, no port, no rules left", async () => {
  const m = await client.createMachine({ image: imageB, name: "late-port", ports: ["127.0.0.1:18082:8080"] });
  const holder = await H.startProbe(["tcp-server", "127.0.0.1", "18082"]);
  try {
    await assert.rejects(client.machineAction(m.id, "start"), /18082/);
    const after = await client.machine(m.id);
    assert.equal(after.state, "failed");
    assert.match(after.last_error ?? "", /start failed: .*18082/);
    assert.doesNotMatch(await H.check("ip", ["-o", "link", "show"]), new RegExp(m.net!.tap));
    // No machine runs, so walk's table may be gone altogether; either way no rule names the tap.
    const table = await H.check("nft", ["list", "table", "inet", "walk"]).catch((e: Error) => {
      assert.match(e.message, /No such file or directory/);
      return "";
    });
    assert.doesNotMatch(table, new RegExp(m.net!.tap));
  } finally {
    holder.kill("SIGKILL");
  }
  await client.removeMachine(m.id, true);
});

// Created, not started: leases are allocated at create, so no boot (and no host device) is needed.
test("20 machines get unique addresses, MACs and taps; removed machines' addresses are reused", async () => {
  const made: MachineWire[] = [];
  for (let i = 0; i < 20; i++) made.push(await client.createMachine({ image: imageB, name: `many-${i}` }));
  const nets = made.map((m) => m.net!);
  for (const key of ["ip", "gateway", "subnet", "mac", "tap"] as const) assert.equal(new Set(nets.map((x) => x[key])).size, 20, key);
  const freed = [3, 7, 11].map((i) => made[i]!);
  for (const m of freed) await client.removeMachine(m.id, true);
  const again: MachineWire[] = [];
  for (let i = 0; i < 3; i++) again.push(await client.createMachine({ image: imageB, name: `again-${i}` }));
  assert.deepEqual(again.map((m) => m.net!.ip).sort(), freed.map((m) => m.net!.ip).sort());
  for (const m of [...made.filter((x) => !freed.includes(x)), ...again]) await client.removeMachine(m.id, true);
});
