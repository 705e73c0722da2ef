// The host side of each machine's link: a tap (`ip tuntap`) carrying walk's alias, its gateway
// address, MTU, IPv6 switched off, up. Idempotent: creating a device walk already made for the same
// machine reuses it, deleting a missing one is fine. Never touches a device without walk's alias.
import { WalkError } from "../lib/index.js";
import type { HostNet } from "./host.js";
import { isWalkTapName, machineIdFromAlias, tapAlias } from "./names.js";

/** What `ip -d -j link show` says about one link (the fields walk reads). */
interface IpLink {
  ifname: string;
  ifalias?: string;
  linkinfo?: { info_kind?: string; info_data?: { type?: string } };
}

/** How one kind of link is made. Production uses taps; tests can stand a veth in for a tap. */
export interface LinkKind {
  /** Shown in errors, e.g. "tap". */
  readonly name: string;
  /** Whether an existing link is of this kind. */
  matches(link: { kind: string | undefined; type: string | undefined }): boolean;
  /** Creates the bare link `name` for `machineId`; the caller configures it and deletes it on failure. */
  add(host: HostNet, name: string, machineId: string): Promise<void>;
}

/** A persistent tap, owned by `owner` when the VMM runs unprivileged (the jailer's uid/gid). */
export function tapKind(owner?: { uid: number; gid: number }): LinkKind {
  return {
    name: "tap",
    matches: (l) => l.kind === "tun" && l.type === "tap",
    async add(host, name) {
      const args = ["tuntap", "add", "dev", name, "mode", "tap"];
      if (owner) args.push("user", String(owner.uid), "group", String(owner.gid));
      await host.check(`creating tap ${name}`, "ip", args);
    },
  };
}

export interface LinkPlan {
  name: string;
  machineId: string;
  /** Host-side address and prefix, e.g. 10.231.0.1/30. */
  gateway: string;
  prefix: number;
  mtu: number;
}

export interface WalkLink {
  name: string;
  /** From the alias: the machine the link was made for. */
  machineId: string;
}

export class LinkDevices {
  constructor(
    private readonly host: HostNet,
    private readonly kind: LinkKind,
  ) {}

  private async show(name?: string): Promise<IpLink[]> {
    const args = ["-d", "-j", "link", "show", ...(name === undefined ? [] : ["dev", name])];
    const r = await this.host.run("ip", args);
    if (r.code !== 0) {
      if (name !== undefined && /does not exist/.test(r.stderr)) return [];
      throw new WalkError("internal", `listing network devices failed: ip ${args.join(" ")}: ${r.stderr.trim()}`);
    }
    return JSON.parse(r.stdout || "[]") as IpLink[];
  }

  /** Walk's links: a walk-shaped name, walk's alias, and the expected kind. Nothing else is ever returned. */
  async list(): Promise<WalkLink[]> {
    const out: WalkLink[] = [];
    for (const l of await this.show()) {
      const id = machineIdFromAlias(l.ifalias);
      if (id !== undefined && isWalkTapName(l.ifname) && this.isKind(l)) out.push({ name: l.ifname, machineId: id });
    }
    return out;
  }

  private isKind(l: IpLink): boolean {
    return this.kind.matches({ kind: l.linkinfo?.info_kind, type: l.linkinfo?.info_data?.type });
  }

  /** Throws `conflict` when `name` exists and is not walk's link for `machineId`; true when it is. */
  private async owned(name: string, machineId: string): Promise<boolean> {
    const [l] = await this.show(name);
    if (!l) return false;
    // No alias at all: walk crashed between creating this machine's link and labelling it.
    if ((l.ifalias === tapAlias(machineId) || l.ifalias === undefined) && this.isKind(l)) return true;
    const whose = machineIdFromAlias(l.ifalias);
    const what = whose === undefined ? "a device walk did not create" : `walk's device for machine ${whose}`;
    throw new WalkError("conflict", `network device ${name} already exists and is ${what}; remove or rename it (ip link del ${name}) and retry`, {
      details: { device: name },
    });
  }

  /** Creates (or reuses) and configures the link. On failure, a link this call created is deleted. */
  async ensure(plan: LinkPlan): Promise<"created" | "reused"> {
    const reused = await this.owned(plan.name, plan.machineId);
    if (!reused) await this.kind.add(this.host, plan.name, plan.machineId);
    try {
      const dev = plan.name;
      await this.host.check(`configuring ${dev}`, "ip", ["link", "set", "dev", dev, "alias", tapAlias(plan.machineId)]);
      await this.disableIpv6(dev);
      await this.host.check(`configuring ${dev}`, "ip", ["link", "set", "dev", dev, "mtu", String(plan.mtu)]);
      await this.host.check(`configuring ${dev}`, "ip", ["addr", "replace", `${plan.gateway}/${plan.prefix}`, "dev", dev]);
      await this.host.check(`configuring ${dev}`, "ip", ["link", "set", "dev", dev, "up"]);
    } catch (err) {
      if (!reused) await this.host.run("ip", ["link", "del", "dev", plan.name]);
      throw err;
    }
    return reused ? "reused" : "created";
  }

  /** Guests get IPv4 only: no link-local address or router solicitations on the host side. */
  private async disableIpv6(dev: string): Promise<void> {
    const r = await this.host.run("sysctl", ["-q", "-w", `net.ipv6.conf.${dev}.disable_ipv6=1`]);
    // A host without IPv6 has no net.ipv6 tree: nothing to disable.
    if (r.code !== 0 && !/cannot stat|No such file/.test(r.stderr)) {
      throw new WalkError("internal", `disabling IPv6 on ${dev} failed: ${r.stderr.trim()}`);
    }
  }

  /** Deletes walk's link for `machineId`. Missing: nothing to do. Someone else's device: conflict, untouched. */
  async remove(name: string, machineId: string): Promise<void> {
    if (!(await this.owned(name, machineId))) return;
    const r = await this.host.run("ip", ["link", "del", "dev", name]);
    if (r.code !== 0 && !/does not exist|Cannot find device/.test(r.stderr)) {
      throw new WalkError("internal", `deleting ${name} failed: ${r.stderr.trim()}`);
    }
  }
}
