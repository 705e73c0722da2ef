// Identity of a host process from /proc: its start time, so a pid recorded before a daemon restart
// is not confused with an unrelated process that got the same pid later. Linux only.
import { readFile } from "node:fs/promises";

export interface ProcessStat {
  /** One-letter state (R, S, D, Z, T ...). */
  state: string;
  /** Field 22, clock ticks after host boot, as a decimal string. */
  startTime: string;
}

/** Reads /proc/PID/stat; null when there is no such process. */
export async function readProcessStat(pid: number): Promise<ProcessStat | null> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ESRCH") return null;
    throw err;
  }
  return parseProcessStat(text);
}

/**
 * Parses a /proc/PID/stat line. The command name (field 2) is in parentheses and may itself
 * contain spaces and parentheses, so fields are counted from the last ')'.
 */
export function parseProcessStat(text: string): ProcessStat | null {
  const close = text.lastIndexOf(")");
  if (close < 0) return null;
  const rest = text.slice(close + 2).trim().split(" ");
  // rest[0] is field 3 (state); field 22 is rest[19].
  const state = rest[0];
  const startTime = rest[19];
  if (state === undefined || startTime === undefined || !/^\d+$/.test(startTime)) return null;
  return { state, startTime };
}

/** True when `pid` is a live (not zombie) process that started at `startTime`. */
export async function isSameProcessAlive(pid: number, startTime: string): Promise<boolean> {
  const st = await readProcessStat(pid);
  return st !== null && st.startTime === startTime && st.state !== "Z" && st.state !== "X";
}
