// Identifiers: random ids for machines, jobs and operations, and the short forms used in names
// that have length limits (tap devices, temp files).
import { randomBytes } from "node:crypto";

/** A 128-bit random id as 32 lowercase hex characters. */
export function newId(): string {
  return randomBytes(16).toString("hex");
}

/** The first 12 characters of an id, as shown to users and used in device names. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}
