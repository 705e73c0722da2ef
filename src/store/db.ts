// Opening walk's SQLite database: WAL mode, foreign keys, a busy timeout, schema migrations by
// PRAGMA user_version, and an integrity check at startup. The database is the source of truth for
// what walk owns; files on disk are reconciled against it (src/daemon/reconcile.ts).
import Database from "better-sqlite3";
import { WalkError } from "../lib/index.js";
import { MIGRATIONS } from "./migrations.js";

export type Db = Database.Database;

export function openDatabase(path: string): Db {
  const db = new Database(path);
  try {
    db.pragma("journal_mode = WAL");
    // Rows whose loss would orphan a running VM are written here; FULL makes each commit durable.
    db.pragma("synchronous = FULL");
    db.pragma("foreign_keys = ON");
    db.pragma("busy_timeout = 5000");
    const check = db.pragma("quick_check", { simple: true });
    if (check !== "ok") {
      throw new WalkError("internal", `the database ${path} failed its integrity check: ${String(check)}`);
    }
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function migrate(db: Db): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new WalkError(
      "unsupported",
      `the database schema is version ${current}, newer than this walkd understands (${MIGRATIONS.length}); upgrade walk`,
    );
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    const apply = db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    });
    apply.immediate();
  }
}

/** Runs `fn` in a BEGIN IMMEDIATE transaction, so concurrent writers queue rather than fail late. */
export function inTransaction<T>(db: Db, fn: () => T): T {
  return db.transaction(fn).immediate();
}
