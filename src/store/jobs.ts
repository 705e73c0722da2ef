// The jobs repository: long operations (pull, build) as durable rows. Progress events are not
// stored here; they live in memory for followers (src/service/jobs.ts) while the job runs.
import type { Db } from "./db.js";

export type JobState = "running" | "succeeded" | "failed" | "canceled";

export interface JobRecord {
  id: string;
  kind: string;
  state: JobState;
  request: unknown;
  result: unknown;
  error: { code: string; error: string } | null;
  createdAt: string;
  updatedAt: string;
}

interface JobRow {
  id: string;
  kind: string;
  state: JobState;
  request: string;
  result: string | null;
  error: string | null;
  created_at: string;
  updated_at: string;
}

const toRecord = (r: JobRow): JobRecord => ({
  id: r.id,
  kind: r.kind,
  state: r.state,
  request: JSON.parse(r.request) as unknown,
  result: r.result === null ? null : (JSON.parse(r.result) as unknown),
  error: r.error === null ? null : (JSON.parse(r.error) as { code: string; error: string }),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class JobRepository {
  constructor(private readonly db: Db) {}

  create(id: string, kind: string, request: unknown): JobRecord {
    const ts = new Date().toISOString();
    this.db
      .prepare("INSERT INTO jobs (id, kind, state, request, created_at, updated_at) VALUES (?, ?, 'running', ?, ?, ?)")
      .run(id, kind, JSON.stringify(request), ts, ts);
    return this.get(id)!;
  }

  finish(id: string, state: Exclude<JobState, "running">, result: unknown, error: { code: string; error: string } | null): void {
    this.db
      .prepare("UPDATE jobs SET state = ?, result = ?, error = ?, updated_at = ? WHERE id = ?")
      .run(state, result === null ? null : JSON.stringify(result), error === null ? null : JSON.stringify(error), new Date().toISOString(), id);
  }

  get(id: string): JobRecord | undefined {
    const row = this.db.prepare("SELECT * FROM jobs WHERE id = ?").get(id) as JobRow | undefined;
    return row && toRecord(row);
  }

  list(limit = 100): JobRecord[] {
    return (this.db.prepare("SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?").all(limit) as JobRow[]).map(toRecord);
  }

  /** Jobs a previous daemon left running can never finish: mark them failed. Returns how many. */
  failInterrupted(): number {
    const err = JSON.stringify({ code: "canceled", error: "walkd stopped while this job was running" });
    return this.db
      .prepare("UPDATE jobs SET state = 'failed', error = ?, updated_at = ? WHERE state = 'running'")
      .run(err, new Date().toISOString()).changes;
  }
}
