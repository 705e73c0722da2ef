// The machines repository: machine rows and their state transitions, and the Idempotency-Key
// records of create requests. Pure SQL; every write is one BEGIN IMMEDIATE transaction so a
// transition is durable (synchronous=FULL) before the caller performs its side effect.
import type { Db } from "./db.js";
import { inTransaction } from "./db.js";

export type MachineState = "created" | "starting" | "started" | "stopping" | "stopped" | "failed" | "destroyed";
export type RestartPolicyName = "no" | "on-failure" | "always";
export type BackendName = "firecracker" | "qemu";

export interface MachineRecord {
  id: string;
  name: string;
  state: MachineState;
  imageReference: string;
  imageDigest: string;
  /** JSON of the run overrides, as given at create. */
  overrides: string;
  appDiskId: string;
  appDiskPath: string;
  baseVersion: string;
  vcpus: number;
  memoryMib: number;
  diskMib: number;
  restartPolicy: RestartPolicyName;
  restartMax: number | null;
  restartCount: number;
  restartStreak: number;
  restartAt: string | null;
  network: string;
  backend: BackendName;
  vmPid: number | null;
  vmStartTime: string | null;
  vmControlSocket: string | null;
  exitCode: number | null;
  exitSignal: number | null;
  lastError: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
}

export type NewMachine = Omit<MachineRecord, "state" | "restartCount" | "restartStreak" | "restartAt" | "vmPid" | "vmStartTime" | "vmControlSocket" | "exitCode" | "exitSignal" | "lastError" | "createdAt" | "startedAt" | "finishedAt" | "updatedAt">;

/** Columns a transition may set. */
export type MachineChange = Partial<Omit<MachineRecord, "id" | "createdAt" | "updatedAt">>;

const COLUMNS: Record<keyof MachineRecord, string> = {
  id: "id",
  name: "name",
  state: "state",
  imageReference: "image_reference",
  imageDigest: "image_digest",
  overrides: "overrides",
  appDiskId: "app_disk_id",
  appDiskPath: "app_disk_path",
  baseVersion: "base_version",
  vcpus: "vcpus",
  memoryMib: "memory_mib",
  diskMib: "disk_mib",
  restartPolicy: "restart_policy",
  restartMax: "restart_max",
  restartCount: "restart_count",
  restartStreak: "restart_streak",
  restartAt: "restart_at",
  network: "network",
  backend: "backend",
  vmPid: "vm_pid",
  vmStartTime: "vm_start_time",
  vmControlSocket: "vm_control_socket",
  exitCode: "exit_code",
  exitSignal: "exit_signal",
  lastError: "last_error",
  createdAt: "created_at",
  startedAt: "started_at",
  finishedAt: "finished_at",
  updatedAt: "updated_at",
};
const SELECT = `SELECT ${Object.entries(COLUMNS)
  .map(([k, c]) => `${c} AS ${k}`)
  .join(", ")} FROM machines`;

export class MachineRepository {
  constructor(private readonly db: Db) {}

  /** Inserts a machine in state created. A live machine with the same name makes SQLite refuse (UNIQUE). */
  insert(m: NewMachine): MachineRecord {
    const ts = new Date().toISOString();
    const row: Partial<MachineRecord> = { ...m, state: "created", createdAt: ts, updatedAt: ts };
    const keys = Object.keys(row) as (keyof MachineRecord)[];
    inTransaction(this.db, () => {
      this.db.prepare(`INSERT INTO machines (${keys.map((k) => COLUMNS[k]).join(", ")}) VALUES (${keys.map(() => "?").join(", ")})`).run(...keys.map((k) => row[k] as unknown));
    });
    return this.get(m.id)!;
  }

  get(id: string): MachineRecord | undefined {
    return this.db.prepare(`${SELECT} WHERE id = ?`).get(id) as MachineRecord | undefined;
  }

  /** The live (not destroyed) machine with this name. */
  byName(name: string): MachineRecord | undefined {
    return this.db.prepare(`${SELECT} WHERE name = ? AND state <> 'destroyed'`).get(name) as MachineRecord | undefined;
  }

  byIdPrefix(prefix: string): MachineRecord[] {
    return this.db.prepare(`${SELECT} WHERE substr(id, 1, ?) = ? ORDER BY created_at`).all(prefix.length, prefix) as MachineRecord[];
  }

  /** Every machine, oldest first; destroyed ones only when asked. */
  list(opts: { includeDestroyed?: boolean } = {}): MachineRecord[] {
    const where = opts.includeDestroyed ? "" : " WHERE state <> 'destroyed'";
    return this.db.prepare(`${SELECT}${where} ORDER BY created_at, id`).all() as MachineRecord[];
  }

  /**
   * Applies `change` when the row's current state is one of `from` (any state when omitted), in one
   * IMMEDIATE transaction. Returns the updated row, or undefined when the row is missing or in
   * another state (the caller re-reads and decides).
   */
  transition(id: string, change: MachineChange, from?: readonly MachineState[]): MachineRecord | undefined {
    const keys = Object.keys(change) as (keyof MachineChange)[];
    const sets = [...keys.map((k) => `${COLUMNS[k]} = ?`), "updated_at = ?"];
    const values = [...keys.map((k) => change[k] as unknown), new Date().toISOString()];
    const guard = from && from.length > 0 ? ` AND state IN (${from.map(() => "?").join(", ")})` : "";
    const changed = inTransaction(this.db, () => this.db.prepare(`UPDATE machines SET ${sets.join(", ")} WHERE id = ?${guard}`).run(...values, id, ...(from ?? [])).changes);
    return changed === 1 ? this.get(id) : undefined;
  }
}

export interface IdempotencyRecord {
  key: string;
  requestHash: string;
  machineId: string | null;
  createdAt: string;
}

export class IdempotencyRepository {
  constructor(private readonly db: Db) {}

  /**
   * Claims `key` for a request with `hash`: "claimed" when this request is the first, otherwise
   * the existing record (the caller compares hashes and checks whether it is still in flight).
   */
  claim(key: string, hash: string): { claimed: true } | { claimed: false; existing: IdempotencyRecord } {
    return inTransaction(this.db, () => {
      const existing = this.db.prepare("SELECT key, request_hash AS requestHash, machine_id AS machineId, created_at AS createdAt FROM idempotency_keys WHERE key = ?").get(key) as IdempotencyRecord | undefined;
      if (existing) return { claimed: false as const, existing };
      this.db.prepare("INSERT INTO idempotency_keys (key, request_hash, machine_id, created_at) VALUES (?, ?, NULL, ?)").run(key, hash, new Date().toISOString());
      return { claimed: true as const };
    });
  }

  complete(key: string, machineId: string): void {
    inTransaction(this.db, () => this.db.prepare("UPDATE idempotency_keys SET machine_id = ? WHERE key = ?").run(machineId, key));
  }

  /** Forgets a key whose request failed before it made a machine, so a retry runs again. */
  release(key: string): void {
    inTransaction(this.db, () => this.db.prepare("DELETE FROM idempotency_keys WHERE key = ? AND machine_id IS NULL").run(key));
  }

  /** At startup: keys still in flight belonged to a walkd that is gone; keys older than `maxAgeMs` expire. */
  sweep(maxAgeMs: number): number {
    const cutoff = new Date(Date.now() - maxAgeMs).toISOString();
    return inTransaction(this.db, () => this.db.prepare("DELETE FROM idempotency_keys WHERE machine_id IS NULL OR created_at < ?").run(cutoff).changes);
  }
}
