// Long operations as jobs: each runs in the daemon independently of the client that asked for it,
// is recorded in SQLite, and publishes progress events that any number of clients can follow
// (replaying what they missed). A follower that disconnects changes nothing about the job.
import { EventEmitter } from "node:events";
import { asWalkError, newId, type Logger } from "../lib/index.js";
import type { JobRecord, JobRepository } from "../store/index.js";

export type JobEvent = { type: string; [key: string]: unknown };

export interface JobContext {
  emit: (event: JobEvent) => void;
  signal: AbortSignal;
}

interface LiveJob {
  events: JobEvent[];
  dropped: number;
  done: boolean;
  controller: AbortController;
  emitter: EventEmitter;
}

/** Events kept per job for late followers; progress beyond it is dropped from the replay, oldest first. */
const MAX_EVENTS = 2000;
/** Finished jobs whose events stay followable. */
const MAX_FINISHED = 100;

export class JobService {
  private readonly live = new Map<string, LiveJob>();

  constructor(
    private readonly repo: JobRepository,
    private readonly log: Logger,
  ) {}

  /** Records and starts a job; `request` is stored as given, so it must not contain secrets. */
  start(kind: string, request: unknown, run: (ctx: JobContext) => Promise<unknown>): JobRecord {
    const id = newId();
    const record = this.repo.create(id, kind, request);
    const job: LiveJob = { events: [], dropped: 0, done: false, controller: new AbortController(), emitter: new EventEmitter() };
    job.emitter.setMaxListeners(0);
    this.live.set(id, job);
    const emit = (event: JobEvent): void => {
      if (job.done) return;
      job.events.push(event);
      if (job.events.length > MAX_EVENTS) {
        job.events.shift();
        job.dropped++;
      }
      job.emitter.emit("event", event);
    };
    void (async () => {
      let end: JobEvent;
      try {
        const result = await run({ emit, signal: job.controller.signal });
        this.repo.finish(id, "succeeded", result ?? null, null);
        end = { type: "end", state: "succeeded", result: result ?? null };
      } catch (err) {
        const e = asWalkError(err);
        const state = job.controller.signal.aborted ? "canceled" : "failed";
        const error = { code: e.code, error: e.message };
        this.repo.finish(id, state, null, error);
        this.log.warn({ job: id, kind, code: e.code, err: e.message }, "job failed");
        end = { type: "end", state, error };
      }
      emit(end);
      job.done = true;
      job.emitter.emit("done");
      this.forgetOldJobs();
    })();
    return record;
  }

  get(id: string): JobRecord | undefined {
    return this.repo.get(id);
  }

  list(): JobRecord[] {
    return this.repo.list();
  }

  cancel(id: string): boolean {
    const job = this.live.get(id);
    if (!job || job.done) return false;
    job.controller.abort();
    return true;
  }

  /** Waits for a job to end and returns its final record. */
  async wait(id: string): Promise<JobRecord | undefined> {
    for await (const _ of this.follow(id)) {
      // draining the events is how we learn the job ended
    }
    return this.repo.get(id);
  }

  /**
   * Yields the job's events from the start (as far as kept), then live ones, ending after the
   * "end" event. For a job this daemon no longer holds, yields one synthesized "end" event.
   */
  async *follow(id: string, signal?: AbortSignal): AsyncGenerator<JobEvent> {
    const job = this.live.get(id);
    if (!job) {
      const rec = this.repo.get(id);
      if (rec && rec.state !== "running") yield { type: "end", state: rec.state, result: rec.result, error: rec.error };
      return;
    }
    const queue: JobEvent[] = [...job.events];
    let wake: (() => void) | undefined;
    const onEvent = (e: JobEvent): void => {
      queue.push(e);
      wake?.();
    };
    const onDone = (): void => wake?.();
    job.emitter.on("event", onEvent);
    job.emitter.on("done", onDone);
    signal?.addEventListener("abort", onDone);
    try {
      for (;;) {
        while (queue.length > 0) {
          const e = queue.shift()!;
          yield e;
          if (e.type === "end") return;
        }
        if (job.done || signal?.aborted) return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      job.emitter.off("event", onEvent);
      job.emitter.off("done", onDone);
      signal?.removeEventListener("abort", onDone);
    }
  }

  /** Aborts running jobs (on daemon shutdown) and waits for them to settle. */
  async shutdown(): Promise<void> {
    const running = [...this.live.entries()].filter(([, j]) => !j.done);
    for (const [, j] of running) j.controller.abort();
    await Promise.all(running.map(([id]) => this.wait(id)));
  }

  private forgetOldJobs(): void {
    const finished = [...this.live.entries()].filter(([, j]) => j.done);
    for (const [id] of finished.slice(0, Math.max(0, finished.length - MAX_FINISHED))) this.live.delete(id);
  }
}
