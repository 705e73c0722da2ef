// Address leases in SQLite (tables from schema.ts): each machine with a network holds one /30 of
// the pool (network, gateway = host side, guest, broadcast), its tap name, MAC and published
// ports, from allocate until release. Allocation runs in a BEGIN IMMEDIATE transaction and takes
// the lowest free block, so released addresses are reused and no two machines ever share one.
import type Database from "better-sqlite3";
import { WalkError } from "../lib/index.js";
import { cidrContains, cidrSize, formatCidr4, formatIpv4, parseCidr4, parseIpv4 } from "./cidr.js";
import { macFor, tapName } from "./names.js";
import type { PublishedPort } from "./ports.js";

/** A /30: network, gateway (host side), guest, broadcast. */
const BLOCK = 4;
export const MACHINE_PREFIX = 30;

export interface Lease {
  machineId: string;
  subnet: string;
  guestIp: string;
  gatewayIp: string;
  prefix: number;
  tap: string;
  mac: string;
  ports: PublishedPort[];
  createdAt: string;
}

interface LeaseRow {
  machine_id: string;
  subnet: string;
  guest_ip: string;
  gateway_ip: string;
  prefix: number;
  tap: string;
  mac: string;
  ports: string;
  created_at: string;
}

const toLease = (r: LeaseRow): Lease => ({
  machineId: r.machine_id,
  subnet: r.subnet,
  guestIp: r.guest_ip,
  gatewayIp: r.gateway_ip,
  prefix: r.prefix,
  tap: r.tap,
  mac: r.mac,
  ports: JSON.parse(r.ports) as PublishedPort[],
  createdAt: r.created_at,
});

export class NetRepository {
  constructor(private readonly db: Database.Database) {}

  get(machineId: string): Lease | undefined {
    const row = this.db.prepare("SELECT * FROM net_leases WHERE machine_id = ?").get(machineId) as LeaseRow | undefined;
    return row && toLease(row);
  }

  /** Every lease, in address order. */
  list(): Lease[] {
    const rows = (this.db.prepare("SELECT * FROM net_leases").all() as LeaseRow[]).map(toLease);
    return rows.sort((a, b) => (parseIpv4(a.guestIp) ?? 0) - (parseIpv4(b.guestIp) ?? 0));
  }

  /**
   * Gives `machineId` the lowest free /30 of `pool`, or returns its existing lease (allocate is
   * idempotent). `ports` are recorded with a new lease; an existing lease keeps its own.
   */
  allocate(machineId: string, pool: string, ports: PublishedPort[]): Lease {
    const tap = tapName(machineId);
    const mac = macFor(machineId);
    const range = parseCidr4(pool, "network.pool");
    return this.db
      .transaction((): Lease => {
        const existing = this.get(machineId);
        if (existing) return existing;
        const taken = this.db.prepare("SELECT machine_id FROM net_leases WHERE tap = ? OR mac = ?").get(tap, mac) as { machine_id: string } | undefined;
        if (taken) {
          throw new WalkError("conflict", `machine ${machineId} would get the tap ${tap} that machine ${taken.machine_id} already has (their ids share a prefix)`);
        }
        const used = new Set<number>();
        for (const r of this.db.prepare("SELECT subnet FROM net_leases").all() as { subnet: string }[]) {
          const base = parseIpv4(r.subnet.split("/")[0]!);
          if (base !== undefined && cidrContains(range, base)) used.add(base);
        }
        let base: number | undefined;
        for (let b = range.base; b < range.base + cidrSize(range); b += BLOCK) {
          if (!used.has(b)) {
            base = b;
            break;
          }
        }
        if (base === undefined) {
          const n = cidrSize(range) / BLOCK;
          throw new WalkError("size_exceeded", `the address pool ${pool} is exhausted: all ${n} machine subnets are in use; destroy machines or configure a larger network.pool`, {
            details: { pool, capacity: n },
          });
        }
        const row: LeaseRow = {
          machine_id: machineId,
          subnet: formatCidr4({ base, prefix: MACHINE_PREFIX }),
          gateway_ip: formatIpv4(base + 1),
          guest_ip: formatIpv4(base + 2),
          prefix: MACHINE_PREFIX,
          tap,
          mac,
          ports: JSON.stringify(ports),
          created_at: new Date().toISOString(),
        };
        this.db
          .prepare(
            "INSERT INTO net_leases (machine_id, subnet, guest_ip, gateway_ip, prefix, tap, mac, ports, created_at) VALUES (@machine_id, @subnet, @guest_ip, @gateway_ip, @prefix, @tap, @mac, @ports, @created_at)",
          )
          .run(row);
        return toLease(row);
      })
      .immediate();
  }

  /** Frees the machine's addresses for reuse. Releasing a machine without a lease is a no-op. */
  release(machineId: string): boolean {
    return this.db.prepare("DELETE FROM net_leases WHERE machine_id = ?").run(machineId).changes > 0;
  }

  getHostState(key: string): string | undefined {
    return (this.db.prepare("SELECT value FROM net_host_state WHERE key = ?").get(key) as { value: string } | undefined)?.value;
  }

  setHostState(key: string, value: string): void {
    this.db.prepare("INSERT INTO net_host_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(key, value);
  }

  deleteHostState(key: string): void {
    this.db.prepare("DELETE FROM net_host_state WHERE key = ?").run(key);
  }
}
