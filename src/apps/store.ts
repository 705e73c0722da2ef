// The apps repository: one row per deployed app (its validated spec, a generation bumped by each
// deploy, the machine serving it and the generation of any valid snapshot). Pure SQL; each write
// is one BEGIN IMMEDIATE transaction. Knows nothing of machines beyond their ids.
import { inTransaction, type Db } from "../store/index.js";
import type { AppSpec } from "./spec.js";

export interface AppRecord {
  name: string;
  spec: AppSpec;
  generation: number;
  machineId: string | null;
  machineGeneration: number | null;
  snapshotGeneration: number | null;
  createdAt: string;
  updatedAt: string;
}

/** A row as SELECT returns it: the record with its spec still JSON. */
type Row = Omit<AppRecord, "spec"> & { spec: string };

const SELECT =
  "SELECT name, spec, generation, machine_id AS machineId, machine_generation AS machineGeneration, snapshot_generation AS snapshotGeneration, created_at AS createdAt, updated_at AS updatedAt FROM apps";

function fromRow(r: Row): AppRecord {
  return { ...r, spec: JSON.parse(r.spec) as AppSpec };
}

export class AppRepository {
  constructor(private readonly db: Db) {}

  get(name: string): AppRecord | undefined {
    const r = this.db.prepare(`${SELECT} WHERE name = ?`).get(name) as Row | undefined;
    return r && fromRow(r);
  }

  list(): AppRecord[] {
    return (this.db.prepare(`${SELECT} ORDER BY name`).all() as Row[]).map(fromRow);
  }

  /**
   * Records a deploy: a new app at generation 1, or a new generation of an existing one. A new
   * generation drops the snapshot (it belongs to the old image and config); the machine stays
   * recorded until the caller replaces it.
   */
  deploy(spec: AppSpec): AppRecord {
    const now = new Date().toISOString();
    return inTransaction(this.db, () => {
      const cur = this.get(spec.name);
      if (cur === undefined) {
        this.db.prepare("INSERT INTO apps (name, spec, generation, created_at, updated_at) VALUES (?, ?, 1, ?, ?)").run(spec.name, JSON.stringify(spec), now, now);
      } else {
        this.db.prepare("UPDATE apps SET spec = ?, generation = generation + 1, snapshot_generation = NULL, updated_at = ? WHERE name = ?").run(JSON.stringify(spec), now, spec.name);
      }
      return this.get(spec.name)!;
    });
  }

  /** The machine now serving the app, created for `generation` (null: none). Drops the snapshot. */
  setMachine(name: string, machineId: string | null, generation: number | null): void {
    this.update(name, "machine_id = ?, machine_generation = ?, snapshot_generation = NULL", [machineId, generation]);
  }

  /** A snapshot of the app's machine for `generation` is valid (null: there is none). */
  setSnapshot(name: string, generation: number | null): void {
    this.update(name, "snapshot_generation = ?", [generation]);
  }

  remove(name: string): boolean {
    return inTransaction(this.db, () => this.db.prepare("DELETE FROM apps WHERE name = ?").run(name).changes) === 1;
  }

  private update(name: string, sets: string, values: unknown[]): void {
    inTransaction(this.db, () => this.db.prepare(`UPDATE apps SET ${sets}, updated_at = ? WHERE name = ?`).run(...values, new Date().toISOString(), name));
  }
}
