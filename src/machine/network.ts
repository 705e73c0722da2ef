// The machine side of networking: which mode a new machine gets, its lease and published ports at
// create (checked before anything boots), the tap/MAC and walk.* parameters at start, teardown
// when its VM ends, release on destroy, and the wire view. All host work is src/net's
// NetworkManager; this file only maps machine lifecycle steps onto it. It must not touch devices.
import { WalkError } from "../lib/index.js";
import { formatPort, portsClash, type GuestNetParams, type LiveMachine, type NetworkManager, type ReconcileReport } from "../net/index.js";
import type { NetworkSpec } from "../vm/index.js";
import type { MachineNetWire } from "../api/machine-schemas.js";

/** `default`: a tap, a private /30, NAT out, published ports. `none`: no NIC at all. */
export type NetworkMode = "default" | "none";

export const NETWORK_MODES: readonly NetworkMode[] = ["default", "none"];

/** What the VMM and the kernel command line need for a networked boot. */
export interface BootNetwork {
  nic: NetworkSpec;
  params: GuestNetParams;
}

export class MachineNetworking {
  constructor(
    private readonly net: NetworkManager | undefined,
    readonly defaultMode: NetworkMode,
  ) {}

  /** The mode of a new machine; validates its `-p` specs up front (nothing exists yet on failure). */
  modeFor(requested: string | undefined, ports: readonly string[]): NetworkMode {
    const mode = requested ?? this.defaultMode;
    if (!NETWORK_MODES.includes(mode as NetworkMode)) throw new WalkError("invalid_argument", `network mode must be one of ${NETWORK_MODES.join(", ")}, got ${JSON.stringify(mode)}`);
    if (mode === "none") {
      if (ports.length > 0) throw new WalkError("invalid_argument", `a machine with network "none" cannot publish ports (${ports.join(", ")}); drop --net none or the -p flags`);
      return "none";
    }
    this.manager().parsePorts(ports);
    return "default";
  }

  /**
   * Gives the machine its addresses and ports and proves each port can be had: none is published
   * by another machine, and each is free on the host now. On failure the lease is released.
   */
  async allocate(machineId: string, ports: readonly string[], others: readonly string[]): Promise<void> {
    const net = this.manager();
    const mine = net.allocate(machineId, { ports });
    try {
      for (const other of others) {
        for (const theirs of net.describe(other)?.ports ?? []) {
          const clash = mine.ports.find((p) => portsClash(p, theirs));
          if (clash) throw new WalkError("conflict", `host port ${formatPort(clash)} is already published by machine ${other}; choose another host port`, { details: { port: formatPort(clash), machine: other } });
        }
      }
      await net.checkPorts(machineId);
    } catch (err) {
      await net.release(machineId);
      throw err;
    }
  }

  /** Makes the machine's network ready (idempotent); undefined for a machine without one. */
  async setUp(machineId: string, mode: string): Promise<BootNetwork | undefined> {
    if (mode === "none") return undefined;
    const net = this.manager();
    await net.setUp(machineId);
    return this.bootNetwork(machineId, mode);
  }

  /** The NIC and parameters of an allocated machine, without touching the host (for re-attach). */
  bootNetwork(machineId: string, mode: string): BootNetwork | undefined {
    if (mode === "none" || this.net?.describe(machineId) === undefined) return undefined;
    return { nic: this.net.networkSpec(machineId), params: this.net.guestParams(machineId) };
  }

  /** After the VM ended: published ports, DNS forwarder, rules and tap go; the lease stays. */
  async tearDown(machineId: string, mode: string): Promise<void> {
    if (mode !== "none" && this.net) await this.net.tearDown(machineId);
  }

  /** On destroy: the addresses are freed for reuse. */
  async release(machineId: string, mode: string): Promise<void> {
    if (mode !== "none" && this.net) await this.net.release(machineId);
  }

  reconcile(live: readonly LiveMachine[]): Promise<ReconcileReport> | undefined {
    return this.net?.reconcile(live);
  }

  describe(machineId: string, mode: string): MachineNetWire | null {
    const n = mode === "none" ? undefined : this.net?.describe(machineId);
    if (!n) return null;
    return {
      ip: n.guestIp,
      prefix: n.prefix,
      gateway: n.gatewayIp,
      subnet: n.subnet,
      mac: n.mac,
      tap: n.tap,
      mtu: n.mtu,
      dns: n.dns,
      ports: n.ports.map((p) => ({ host_ip: p.hostIp, host_port: p.hostPort, guest_port: p.guestPort, protocol: p.protocol })),
    };
  }

  private manager(): NetworkManager {
    if (!this.net) throw new WalkError("unavailable", 'this walkd has no networking configured; create the machine with network "none" (--net none)');
    return this.net;
  }
}
