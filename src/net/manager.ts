// The facade the machine runtime uses: allocate a machine's addresses, set its network up before
// boot (link, DNS forwarder, published ports, walk's table), tear it down after stop, release it
// on destroy, and reconcile everything on daemon start. Each setUp either completes or undoes
// what it did. Mutating calls are serialized: the table is rendered from the whole state.
import type Database from "better-sqlite3";
import { WalkError, asWalkError, type Logger } from "../lib/index.js";
import { checkNetConfig, type NetConfig } from "./config.js";
import { LinkDevices, tapKind, type LinkKind } from "./devices.js";
import { DEFAULT_DNS_LIMITS, DnsForwarder, resolveUpstreams, type DnsLimits } from "./dns.js";
import { HostNet } from "./host.js";
import { NetRepository, type Lease } from "./leases.js";
import { applyTable, removeTable, renderTable, type NftState } from "./nft.js";
import { parsePortSpecs, type PublishedPort } from "./ports.js";
import { DEFAULT_PROXY_LIMITS, checkPortsFree, openForwarder, type Forwarder, type ProxyLimits } from "./proxy.js";

/** What a machine's network is, for the VMM, the guest and `walk inspect`. */
export interface MachineNetwork {
  machineId: string;
  tap: string;
  mac: string;
  guestIp: string;
  gatewayIp: string;
  prefix: number;
  subnet: string;
  mtu: number;
  dns: string[];
  ports: PublishedPort[];
}

/** The walk.* kernel parameters for eth0; the same shape as src/base's GuestParams fields. */
export interface GuestNetParams {
  ip: { address: string; prefix: number };
  gateway: string;
  dns: string[];
  mtu: number;
}

/** A machine that still exists (not destroyed), as the runtime's database says on daemon start. */
export interface LiveMachine {
  id: string;
  /** Its VM is running (or should be): its network must be up. */
  running: boolean;
}

export interface ReconcileReport {
  /** Running machines whose network was (re)made. */
  setUp: string[];
  /** Walk links deleted because no running machine owns them (a crash's leftovers). */
  removedLinks: string[];
  /** Leases of machines that no longer exist, freed. */
  releasedLeases: string[];
  failed: { machineId: string; error: WalkError }[];
}

export interface NetworkManagerOptions {
  db: Database.Database;
  config: NetConfig;
  logger?: Logger;
  /** How links are made; default a tap owned by `config.tapOwner`. Tests stand a veth in. */
  linkKind?: LinkKind;
  proxyLimits?: ProxyLimits;
  dnsLimits?: DnsLimits;
  /** Where the host's resolvers are read when no upstream is configured. */
  resolvConf?: string;
}

interface Active {
  lease: Lease;
  dns: DnsForwarder | undefined;
  forwarders: Forwarder[];
}

const FORWARD_KEY = "net.ipv4.ip_forward";
const PREVIOUS_FORWARD = "previous:net.ipv4.ip_forward";

export class NetworkManager {
  private readonly repo: NetRepository;
  private readonly config: NetConfig;
  private readonly host: HostNet;
  private readonly links: LinkDevices;
  private readonly active = new Map<string, Active>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: NetworkManagerOptions) {
    this.config = checkNetConfig(opts.config);
    this.repo = new NetRepository(opts.db);
    this.host = new HostNet(this.config.netns);
    this.links = new LinkDevices(this.host, opts.linkKind ?? tapKind(this.config.tapOwner));
  }

  /** Runs mutating operations one at a time, in call order. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private view(l: Lease): MachineNetwork {
    return {
      machineId: l.machineId,
      tap: l.tap,
      mac: l.mac,
      guestIp: l.guestIp,
      gatewayIp: l.gatewayIp,
      prefix: l.prefix,
      subnet: l.subnet,
      mtu: this.config.mtu,
      dns: this.dnsFor(l),
      ports: l.ports,
    };
  }

  private dnsFor(l: Lease): string[] {
    const d = this.config.dns;
    return d.mode === "forward" ? [l.gatewayIp] : d.mode === "static" ? [...d.servers] : [];
  }

  private lease(machineId: string): Lease {
    const l = this.repo.get(machineId);
    if (!l) throw new WalkError("not_found", `machine ${machineId} has no network allocated`);
    return l;
  }

  /** Parses `-p` specs under the operator's policy (default address, privileged ports). */
  parsePorts(specs: readonly string[]): PublishedPort[] {
    return parsePortSpecs(specs, { defaultAddress: this.config.publishDefaultAddress, allowPrivileged: this.config.allowPrivilegedPorts });
  }

  /** Gives the machine addresses, tap name and MAC (idempotent: an existing lease is returned as it is). */
  allocate(machineId: string, opts: { ports?: readonly string[] } = {}): MachineNetwork {
    const ports = this.parsePorts(opts.ports ?? []);
    return this.view(this.repo.allocate(machineId, this.config.pool, ports));
  }

  describe(machineId: string): MachineNetwork | undefined {
    const l = this.repo.get(machineId);
    return l && this.view(l);
  }

  guestParams(machineId: string): GuestNetParams {
    const l = this.lease(machineId);
    return { ip: { address: l.guestIp, prefix: l.prefix }, gateway: l.gatewayIp, dns: this.dnsFor(l), mtu: this.config.mtu };
  }

  /** The VMM's view: src/vm's NetworkSpec. */
  networkSpec(machineId: string): { tap: string; mac: string } {
    const l = this.lease(machineId);
    return { tap: l.tap, mac: l.mac };
  }

  /** Early "port in use" check (bind and release each published port), e.g. before creating disks. */
  async checkPorts(machineId: string): Promise<void> {
    const l = this.lease(machineId);
    if (!this.active.has(machineId)) await checkPortsFree(l.ports);
  }

  /** Makes the machine's network ready for boot. On failure nothing of it is left. Idempotent. */
  setUp(machineId: string): Promise<MachineNetwork> {
    return this.serial(() => this.doSetUp(machineId));
  }

  private async doSetUp(machineId: string): Promise<MachineNetwork> {
    const lease = this.lease(machineId);
    if (this.active.has(machineId)) return this.view(lease);
    const undo: (() => Promise<unknown>)[] = [];
    try {
      await this.enableForwarding();
      const made = await this.links.ensure({ name: lease.tap, machineId, gateway: lease.gatewayIp, prefix: lease.prefix, mtu: this.config.mtu });
      if (made === "created") undo.push(() => this.links.remove(lease.tap, machineId));
      const entry: Active = { lease, dns: undefined, forwarders: [] };
      if (this.config.dns.mode === "forward") {
        const ups = await resolveUpstreams(this.config.dns.upstreams, this.opts.resolvConf);
        const dns = await DnsForwarder.open(lease.gatewayIp, 53, ups, this.opts.dnsLimits ?? DEFAULT_DNS_LIMITS);
        entry.dns = dns;
        undo.push(() => dns.close());
      }
      for (const p of lease.ports) {
        const f = await openForwarder(p, lease.guestIp, this.opts.proxyLimits ?? DEFAULT_PROXY_LIMITS);
        entry.forwarders.push(f);
        undo.push(() => f.close());
      }
      this.active.set(machineId, entry);
      undo.push(async () => {
        this.active.delete(machineId);
        await this.applyState();
      });
      await this.applyState();
      return this.view(lease);
    } catch (err) {
      for (const u of undo.reverse()) await u().catch((e: unknown) => this.opts.logger?.warn({ err: e, machineId }, "network rollback step failed"));
      if (this.active.size === 0) await this.restoreForwarding().catch(() => undefined);
      throw err;
    }
  }

  /** Removes the machine's published ports, DNS forwarder, rules and link; keeps its lease. Idempotent. */
  tearDown(machineId: string): Promise<void> {
    return this.serial(() => this.doTearDown(machineId));
  }

  private async doTearDown(machineId: string): Promise<void> {
    const lease = this.repo.get(machineId);
    const entry = this.active.get(machineId);
    if (entry) {
      this.active.delete(machineId);
      for (const f of entry.forwarders) await f.close();
      await entry.dns?.close();
      await this.applyState();
    }
    if (lease) await this.links.remove(lease.tap, machineId);
    if (this.active.size === 0) await this.restoreForwarding();
  }

  /** Tears down and frees the machine's addresses for reuse (destroy). Idempotent. */
  release(machineId: string): Promise<void> {
    return this.serial(async () => {
      await this.doTearDown(machineId);
      this.repo.release(machineId);
    });
  }

  /**
   * On daemon start: frees leases of machines not in `live`, sets up every running machine (making
   * missing links again), deletes walk links of this walkd's machines that no running machine owns
   * (orphans from a crash), and re-applies the table. Touches only links carrying walk's alias whose
   * machine this walkd knows, and walk's own table.
   */
  reconcile(live: readonly LiveMachine[]): Promise<ReconcileReport> {
    return this.serial(async () => {
      const report: ReconcileReport = { setUp: [], removedLinks: [], releasedLeases: [], failed: [] };
      const exists = new Set(live.map((m) => m.id));
      // Links of machines this walkd's database knows; another walkd's links on this host are not ours to remove.
      const ours = new Set([...exists, ...this.repo.list().map((l) => l.machineId)]);
      for (const l of this.repo.list()) {
        if (!exists.has(l.machineId)) {
          this.repo.release(l.machineId);
          report.releasedLeases.push(l.machineId);
        }
      }
      for (const m of live) {
        if (!m.running || !this.repo.get(m.id)) continue;
        try {
          await this.doSetUp(m.id);
          report.setUp.push(m.id);
        } catch (err) {
          report.failed.push({ machineId: m.id, error: asWalkError(err) });
        }
      }
      for (const link of await this.links.list()) {
        const owner = this.active.get(link.machineId);
        if (owner?.lease.tap === link.name || !ours.has(link.machineId)) continue;
        try {
          await this.links.remove(link.name, link.machineId);
          report.removedLinks.push(link.name);
        } catch (err) {
          report.failed.push({ machineId: link.machineId, error: asWalkError(err) });
        }
      }
      await this.applyState();
      if (this.active.size === 0) await this.restoreForwarding();
      this.opts.logger?.info({ ...report, failed: report.failed.map((f) => f.machineId) }, "network reconciled");
      return report;
    });
  }

  /** walkd shutdown: stops published ports and DNS forwarders; links and the table stay for running VMs. */
  close(): Promise<void> {
    return this.serial(async () => {
      for (const e of this.active.values()) {
        for (const f of e.forwarders) await f.close();
        await e.dns?.close();
      }
      this.active.clear();
    });
  }

  /** The table for the current state, as applyState would write it (for `walk doctor` and tests). */
  renderedTable(): string {
    return renderTable(this.tableState());
  }

  private tableState(): NftState {
    return {
      pool: this.config.pool,
      allowedCidrs: this.config.allowedCidrs,
      machines: [...this.active.values()].map(({ lease, dns }) => ({ tap: lease.tap, guestIp: lease.guestIp, gatewayIp: lease.gatewayIp, dns: dns !== undefined })),
    };
  }

  /** Writes the table for the current machines; with none, walk's table is removed (nothing to filter). */
  private async applyState(): Promise<void> {
    if (this.active.size === 0) await removeTable(this.host);
    else await applyTable(this.host, this.renderedTable());
  }

  /** Turns IPv4 forwarding on if it is off, remembering (durably) that walk did so. */
  private async enableForwarding(): Promise<void> {
    const cur = await this.host.readSysctl(FORWARD_KEY);
    if (cur === "1") return;
    if (this.repo.getHostState(PREVIOUS_FORWARD) === undefined) this.repo.setHostState(PREVIOUS_FORWARD, cur);
    await this.host.writeSysctl(FORWARD_KEY, "1");
  }

  /** Puts IPv4 forwarding back to what it was before walk turned it on, once no machine needs it. */
  private async restoreForwarding(): Promise<void> {
    const prev = this.repo.getHostState(PREVIOUS_FORWARD);
    if (prev === undefined) return;
    await this.host.writeSysctl(FORWARD_KEY, prev);
    this.repo.deleteHostState(PREVIOUS_FORWARD);
  }
}
