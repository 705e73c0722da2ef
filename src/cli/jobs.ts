// Following a job from the CLI: stream its events to a callback, end with its result or its error.
import { WalkError } from "../lib/index.js";
import { isErrorCode } from "../api/errors.js";
import type { WalkClient } from "./client.js";

/** Follows a job to its end, passing each event on; returns the result or throws the job's error. */
export async function followJob(c: WalkClient, id: string, onEvent: (e: { type: string; [k: string]: unknown }) => void): Promise<unknown> {
  for await (const e of c.jobEvents(id)) {
    if (e.type !== "end") {
      onEvent(e);
      continue;
    }
    if (e.state === "succeeded") return e.result;
    const err = e.error as { code?: unknown; error?: unknown } | undefined;
    throw new WalkError(isErrorCode(err?.code) ? err.code : "internal", typeof err?.error === "string" ? err.error : `the job ended ${String(e.state)}`);
  }
  throw new WalkError("unavailable", "walkd closed the job's event stream before it ended; see walk image ls or the job with the API");
}

