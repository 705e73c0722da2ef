// The refresh a restored guest gets before it may serve (docs/guest-contract.md, "Host
// commands"): the `refresh` line walk sends on the agent channel (the host's wall clock and fresh
// entropy) and the init's answers to it. A snapshot resumes with the clock it was taken with and
// with the CRNG state every other restore of it also has; the init sets the one and reseeds the
// other. Owns the line formats only; agent.ts sends the command and waits for the answer.
import { WalkError } from "../lib/errors.js";

/** The first contract version whose init understands `refresh` (it says `WALK-INIT v2`). */
export const REFRESH_CONTRACT = 2;
/** Entropy walk sends: 512 bits, twice what the kernel's CRNG keys itself with. */
export const SEED_BYTES = 64;
/** What the init accepts (guest/init/walk_init.h SEED_MIN_BYTES, SEED_MAX_BYTES). */
export const SEED_LIMITS = { min: 32, max: 128 } as const;

export type RefreshAnswer = { kind: "refreshed"; time: boolean; seed: boolean } | { kind: "rejected"; reason: string };

const REFRESHED_RE = /^WALK-REFRESHED v2 time=(ok|failed) seed=(ok|failed)$/;
const REJECTED_RE = /^WALK-REJECTED v2 ([\x20-\x7e]{1,80})$/;

/**
 * The command line (with its newline): `refresh <seconds>.<9-digit nanoseconds> <hex>`. The
 * clock is sent with millisecond precision: the one-way trip to the guest is longer than that.
 */
export function refreshCommand(nowMs: number, seed: Uint8Array): string {
  if (!Number.isInteger(nowMs) || nowMs < 1000 || nowMs >= 1e13) throw new WalkError("invalid_argument", `refresh: the time must be whole milliseconds since 1970 (1 s to 10^10 s), got ${nowMs}`);
  if (seed.length < SEED_LIMITS.min || seed.length > SEED_LIMITS.max) throw new WalkError("invalid_argument", `refresh: the seed must be ${SEED_LIMITS.min} to ${SEED_LIMITS.max} bytes, got ${seed.length}`);
  const seconds = Math.floor(nowMs / 1000);
  const nanos = String((nowMs % 1000) * 1_000_000).padStart(9, "0");
  return `refresh ${seconds}.${nanos} ${Buffer.from(seed).toString("hex")}\n`;
}

/** The init's answer to a command, or undefined when the line is not one. */
export function parseRefreshAnswer(line: string): RefreshAnswer | undefined {
  const done = REFRESHED_RE.exec(line);
  if (done) return { kind: "refreshed", time: done[1] === "ok", seed: done[2] === "ok" };
  const rejected = REJECTED_RE.exec(line);
  return rejected ? { kind: "rejected", reason: rejected[1]! } : undefined;
}
