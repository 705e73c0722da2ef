// What `walk doctor` should say about host networking: the tools walk runs (ip, nft, sysctl), the
// tun device taps need, the configured namespace, and whether nftables answers. Read-only: it
// changes nothing on the host.
import { constants as fsConstants, promises as fs } from "node:fs";
import type { NetConfig } from "./config.js";
import { HostNet } from "./host.js";

export interface NetHostProblem {
  problem: string;
  fix: string;
}

/** Every problem that would stop machines from getting a network; empty when all is well. */
export async function networkHostProblems(config: NetConfig): Promise<NetHostProblem[]> {
  const problems: NetHostProblem[] = [];
  if (config.netns !== undefined) {
    try {
      await fs.access(`/run/netns/${config.netns}`);
    } catch {
      problems.push({ problem: `the network namespace ${config.netns} (network.netns) does not exist`, fix: `create it (ip netns add ${config.netns}) and connect it to the uplink, see docs/networking.md` });
      return problems;
    }
  }
  const host = new HostNet(config.netns);
  const tools: [string, string[], string][] = [
    ["ip", ["-V"], "iproute2"],
    ["nft", ["list", "tables"], "nftables"],
    ["sysctl", ["-n", "net.ipv4.ip_forward"], "procps"],
  ];
  for (const [cmd, args, pkg] of tools) {
    const r = await host.run(cmd, args).catch((e: Error) => ({ code: -1, stderr: e.message }));
    if (r.code !== 0) problems.push({ problem: `${cmd} ${args.join(" ")} failed: ${r.stderr.trim().slice(0, 300)}`, fix: `install ${pkg} and run walkd as root (or with CAP_NET_ADMIN)` });
  }
  try {
    await fs.access("/dev/net/tun", fsConstants.R_OK | fsConstants.W_OK);
  } catch {
    problems.push({ problem: "/dev/net/tun is missing or not read-write for walkd", fix: "load the tun module (modprobe tun)" });
  }
  return problems;
}
