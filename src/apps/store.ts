// The apps repository: one row per deployed app (its validated spec and a generation bumped by each
// deploy) and one per machine slot that has a machine (the machine, the generation it was created
// for, and the generation of any valid snapshot of it). Pure SQL; each write is one BEGIN
// IMMEDIATE transaction. Knows nothing of machines beyond their ids.
import { inTransaction, type Db } from "../store/index.js";
import type { AppSpec } from "./spec.js";

/** The machine of one slot of an app. */
export interface AppSlotRecord {
  slot: number;
  machineId: string;
  /** The app generation the machine was created for. */
  generation: number;
  /** The generation a valid suspend snapshot of the machine belongs to, or null. */
  snapshotGeneration: number | null;
}

export interface AppRecord {
  name: string;
  spec: AppSpec;
  generation: number;
  /** The slots that have a machine, by slot. */
  machines: AppSlotRecord[];
  createdAt: string;
  updatedAt: string;
}

/** An app row as SELECT returns it: the record with its spec still JSON and without its machines. */
type Row = Omit<AppRecord, "spec" | "machines"> & { spec: string };

const SELECT = "SELECT name, spec, generation, created_at AS createdAt, updated_at AS updatedAt FROM apps";
const SELECT_SLOTS = "SELECT slot, machine_id AS machineId, generation, snapshot_generation AS snapshotGeneration FROM app_machines WHERE app = ?";

export class AppRepository {
  constructor(private readonly db: Db) {}

  get(name: string): AppRecord | undefined {
    const r = this.db.prepare(`${SELECT} WHERE name = ?`).get(name) as Row | undefined;
    return r && this.fromRow(r);
  }

  list(): AppRecord[] {
    return (this.db.prepare(`${SELECT} ORDER BY name`).all() as Row[]).map((r) => this.fromRow(r));
  }

  /** The machine of one slot, if it has one. */
  slot(name: string, slot: number): AppSlotRecord | undefined {
    return this.db.prepare(`${SELECT_SLOTS} AND slot = ?`).get(name, slot) as AppSlotRecord | undefined;
  }

  /**
   * Records a deploy: a new app at generation 1, or a new generation of an existing one. A new
   * generation drops every snapshot (they belong to the old image and config); the machines stay
   * recorded until the caller replaces them.
   */
  deploy(spec: AppSpec): AppRecord {
    const now = new Date().toISOString();
    return inTransaction(this.db, () => {
      const cur = this.get(spec.name);
      if (cur === undefined) {
        this.db.prepare("INSERT INTO apps (name, spec, generation, created_at, updated_at) VALUES (?, ?, 1, ?, ?)").run(spec.name, JSON.stringify(spec), now, now);
      } else {
        this.db.prepare("UPDATE apps SET spec = ?, generation = generation + 1, updated_at = ? WHERE name = ?").run(JSON.stringify(spec), now, spec.name);
        this.db.prepare("UPDATE app_machines SET snapshot_generation = NULL WHERE app = ?").run(spec.name);
      }
      return this.get(spec.name)!;
    });
  }

  /** Slot `slot` is now served by `machineId`, created for `generation`; any snapshot of the slot is dropped. */
  setSlotMachine(name: string, slot: number, machineId: string, generation: number): void {
    this.touch(name, () =>
      this.db
        .prepare(
          "INSERT INTO app_machines (app, slot, machine_id, generation, snapshot_generation) VALUES (?, ?, ?, ?, NULL) ON CONFLICT (app, slot) DO UPDATE SET machine_id = excluded.machine_id, generation = excluded.generation, snapshot_generation = NULL",
        )
        .run(name, slot, machineId, generation),
    );
  }

  /** A snapshot of the slot's machine for `generation` is valid (null: there is none). */
  setSlotSnapshot(name: string, slot: number, generation: number | null): void {
    this.touch(name, () => this.db.prepare("UPDATE app_machines SET snapshot_generation = ? WHERE app = ? AND slot = ?").run(generation, name, slot));
  }

  /** The slot has no machine any more. */
  removeSlot(name: string, slot: number): void {
    this.touch(name, () => this.db.prepare("DELETE FROM app_machines WHERE app = ? AND slot = ?").run(name, slot));
  }

  /** Removes the app and its slots. */
  remove(name: string): boolean {
    return inTransaction(this.db, () => this.db.prepare("DELETE FROM apps WHERE name = ?").run(name).changes) === 1;
  }

  private fromRow(r: Row): AppRecord {
    const machines = this.db.prepare(`${SELECT_SLOTS} ORDER BY slot`).all(r.name) as AppSlotRecord[];
    return { ...r, spec: JSON.parse(r.spec) as AppSpec, machines };
  }

  private touch(name: string, write: () => unknown): void {
    inTransaction(this.db, () => {
      write();
      this.db.prepare("UPDATE apps SET updated_at = ? WHERE name = ?").run(new Date().toISOString(), name);
    });
  }
}
