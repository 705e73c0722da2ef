// A real guest (walk-init under QEMU TCG) on a real tap made by NetworkManager, inside namespace
// H; O stands in for the internet and serves HTTP and DNS. One boot checks what the guest sees:
// eth0, route, MTU, resolv.conf and hosts from the walk.* parameters, egress through NAT and
// refusals for the host and metadata; then walkd crashes and a new one reconciles while the VM
// runs, and a published port served from inside the guest and DNS through walk's forwarder work.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newId } from "../../src/lib/index.js";
import type { GuestNetParams, MachineNetwork } from "../../src/net/index.js";
import { openTempNetDb, type TempDb } from "../../src/net/testing.js";
import { b, makeAppDisk, makeStateDisk } from "../harness/guest-disks.js";
import { NetAgent, Netns, linkOutsideWorld, qemuInNetnsDir, type ProbeResult } from "../harness/netns.js";
import { bootGuest, buildTestBase, type GuestBase } from "../harness/qemu.js";

let dir: string;
let base: GuestBase;
let H: Netns, O: Netns;
let db: TempDb;
let agent: NetAgent;
const CONFIG = { pool: "10.231.0.0/16", mtu: 1400, dns: { mode: "forward", upstreams: ["203.0.113.1:53"] }, allowedCidrs: [], publishDefaultAddress: "127.0.0.1", allowPrivilegedPorts: false };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "walk-net-guest-"));
  base = await buildTestBase(process.cwd(), join(dir, "base"));
  H = await Netns.create("gh");
  O = await Netns.create("go");
  await linkOutsideWorld(H, O);
  db = openTempNetDb();
  agent = await NetAgent.start(H, db.path, CONFIG, "tap");
  const bin = await mkdtemp(join(dir, "bin-"));
  process.env.PATH = `${await qemuInNetnsDir(H, bin)}:${process.env.PATH ?? ""}`;
});
after(async () => {
  await agent?.stop(true);
  for (const n of [H, O]) await n?.destroy();
  db?.close();
  await rm(dir, { recursive: true, force: true });
});

const SCRIPT = `
printf '#!/bin/sh\necho "served by the guest"\ntouch /tmp/done\n' > /tmp/serve
chmod +x /tmp/serve
nc -l -p 8080 -e /tmp/serve &
echo "<<NET"; ip -4 addr show dev eth0; ip route; cat /sys/class/net/eth0/mtu; echo "NET>>"
echo "<<FILES"; cat /etc/resolv.conf /etc/hosts; echo "FILES>>"
echo "EGRESS: $(nc -w 5 203.0.113.1 80 </dev/null 2>&1)"
echo "HOST: $(nc -w 5 203.0.113.2 9000 </dev/null 2>&1)"
echo "METADATA: $(nc -w 5 169.254.169.254 80 </dev/null 2>&1)"
echo READY
i=0; while [ ! -f /tmp/done ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
echo "PUBLISHED: $(test -f /tmp/done && echo yes)"
echo "DNS: $(nslookup svc.walk.test 2>&1 | grep -c 198.51.100.7)"
`;

test("a booted guest on its tap: walk.* params, NAT out, isolation; after a walkd crash + reconcile, a published port and DNS", async () => {
  const id = newId();
  const net = await agent.call<MachineNetwork>("allocate", id, ["127.0.0.1:18090:8080"]);
  await agent.call("setUp", id);
  const params = await agent.call<GuestNetParams>("guestParams", id);
  const app = join(dir, "app.ext4");
  const state = join(dir, "state.ext4");
  await makeAppDisk(app, { config: { argv: [b("sh"), b("-c"), b(SCRIPT)], env: [] } });
  await makeStateDisk(state);

  const booted = bootGuest({
    base,
    app,
    state,
    params: { ...params, hostname: "netguest" },
    network: { tap: net.tap, mac: net.mac },
    timeoutMs: 90_000,
  });
  // walkd dies while the guest runs; the next one reconciles. The guest's egress checks run
  // meanwhile (the table stays in the kernel); the published port and DNS need the new walkd.
  await agent.stop(true);
  agent = await NetAgent.start(H, db.path, CONFIG, "tap");
  const rec = await agent.call<{ setUp: string[]; removedLinks: string[]; failed: unknown[] }>("reconcile", [{ id, running: true }]);
  assert.deepEqual([rec.setUp, rec.removedLinks, rec.failed], [[id], [], []]);
  let published: ProbeResult = { ok: false, code: "never tried" };
  const served = (p: ProbeResult) => p.ok && p.data.includes("served by the guest");
  // Until the guest's one-shot server listens, the proxy's connection to it is refused.
  for (let i = 0; i < 300 && !served(published); i++) {
    published = await H.probe<ProbeResult>(["tcp-get", "127.0.0.1", "18090"]).catch(() => published);
    if (!served(published)) await new Promise((r) => setTimeout(r, 100));
  }
  const r = await booted;
  const out = r.console;
  assert.deepEqual(r.status, { kind: "exit", code: 0 }, out.slice(-3000));
  assert.match(out, new RegExp(`inet ${net.guestIp.replace(/\./g, "\\.")}/30`));
  assert.match(out, new RegExp(`default via ${net.gatewayIp.replace(/\./g, "\\.")} dev eth0`));
  assert.match(out, /\n1400\n/);
  assert.match(out, new RegExp(`nameserver ${net.gatewayIp.replace(/\./g, "\\.")}`));
  assert.match(out, new RegExp(`${net.guestIp.replace(/\./g, "\\.")}\\tnetguest`));
  assert.match(out, /EGRESS: hello from 203\.0\.113\.1:80 to 203\.0\.113\.2/);
  assert.match(out, /DNS: [1-9]/);
  assert.match(out, /HOST: nc: can't connect to remote host \(203\.0\.113\.2\): No route to host/);
  assert.match(out, /METADATA: nc: can't connect to remote host \(169\.254\.169\.254\): No route to host/);
  assert.match(out, /PUBLISHED: yes/);
  assert.ok(served(published), JSON.stringify(published));
  await agent.call("release", id);
});
