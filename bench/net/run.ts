// Benchmark: walk's host-side network path against the direct path, both measured in one run, in
// namespaces this script creates (H = host, G = a guest standing in on a tap-named veth, O = a
// server "outside"):
//   - published-port HTTP requests/s: wrk in H -> 127.0.0.1:PORT -> walkd's proxy -> G's server,
//     against wrk in H -> the same server program listening directly in H;
//   - egress TCP throughput: G -> (forward, walk's table, NAT) -> O, against H -> O directly.
// Prints each pair and the ratio walk/direct. The guest is a namespace, not a VM: this isolates
// what walk adds (proxy, rules, NAT); virtio and the VMM are the VM backend's own cost.
//   node dist/bench/net/run.js [--seconds 5] [--connections 32] [--mib 256] [--runs 3]
import { parseArgs } from "node:util";
import { execFile } from "../../src/lib/exec.js";
import { newId } from "../../src/lib/ids.js";
import type { GuestNetParams } from "../../src/net/index.js";
import { openTempNetDb } from "../../src/net/testing.js";
import { NetAgent, Netns, configureGuest, link, type ProbeResult } from "../../test/harness/netns.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    connections: { type: "string", default: "32" },
    mib: { type: "string", default: "256" },
    runs: { type: "string", default: "3" },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const mib = Number(values.mib);
const runs = Number(values.runs);

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function wrk(ns: Netns, url: string): Promise<number> {
  const r = await ns.exec("wrk", ["-t", "2", "-c", String(connections), "-d", `${seconds}s`, url]);
  const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  if (r.code !== 0 || !m) throw new Error(`wrk ${url} failed: ${r.stdout}${r.stderr}`);
  return Number(m[1]);
}

async function mibPerSec(ns: Netns, host: string, port: number): Promise<number> {
  const r = await ns.probe<ProbeResult>(["bulk-send", host, String(port), String(mib)]);
  if (!r.ok) throw new Error(`bulk send from ${ns.name} to ${host}:${port} failed: ${r.code}`);
  const { bytes, ms } = JSON.parse(r.data) as { bytes: number; ms: number };
  return bytes / 1024 / 1024 / (ms / 1000);
}

async function main(): Promise<void> {
  if ((await execFile("wrk", ["--version"])).code === null) throw new Error("wrk is not installed");
  const db = openTempNetDb();
  const ns: Netns[] = [];
  let agent: NetAgent | undefined;
  try {
    const [H, G, O] = [await Netns.create("bh"), await Netns.create("bg"), await Netns.create("bo")];
    ns.push(H, G, O);
    await link(H, "uplink0", "203.0.113.2/24", O, "eth0", "203.0.113.1/24");
    const config = { pool: "10.231.0.0/16", mtu: 1500, dns: { mode: "none" }, allowedCidrs: [], publishDefaultAddress: "127.0.0.1", allowPrivilegedPorts: false };
    agent = await NetAgent.start(H, db.path, config);
    const id = newId();
    await agent.call("guestNs", id, G.name);
    await agent.call("allocate", id, ["127.0.0.1:18100:80"]);
    await agent.call("setUp", id);
    const p = await agent.call<GuestNetParams>("guestParams", id);
    await configureGuest(G, p);
    await G.startProbe(["http-server", p.ip.address, "80"]);
    await H.startProbe(["http-server", "127.0.0.1", "18101"]);
    await O.startProbe(["sink-server", "203.0.113.1", "9000"]);

    const rows: { what: string; walk: number[]; direct: number[]; unit: string }[] = [
      { what: "published-port HTTP", walk: [], direct: [], unit: "req/s" },
      { what: "egress TCP throughput", walk: [], direct: [], unit: "MiB/s" },
    ];
    for (let i = 0; i < runs; i++) {
      rows[0]!.direct.push(await wrk(H, "http://127.0.0.1:18101/"));
      rows[0]!.walk.push(await wrk(H, "http://127.0.0.1:18100/"));
      rows[1]!.direct.push(await mibPerSec(H, "203.0.113.1", 9000));
      rows[1]!.walk.push(await mibPerSec(G, "203.0.113.1", 9000));
    }
    console.log(`runs=${runs} wrk: ${connections} connections x ${seconds}s; bulk: ${mib} MiB per run`);
    for (const r of rows) {
      const w = median(r.walk);
      const d = median(r.direct);
      console.log(`${r.what.padEnd(24)} walk ${w.toFixed(0).padStart(8)} ${r.unit}   direct ${d.toFixed(0).padStart(8)} ${r.unit}   ratio walk/direct ${(w / d).toFixed(2)}`);
    }
  } finally {
    await agent?.stop(true);
    for (const n of ns) await n.destroy();
    db.close();
  }
}

await main();
