// Names and hardware addresses walk derives from a machine id: the tap device `wk<shortid>` and a
// stable, locally administered MAC. Deterministic so reconcile finds a machine's device from its
// id alone; the `walk:` interface alias is the ownership mark GC checks before touching a device.
import { createHash } from "node:crypto";
import { WalkError, shortId } from "../lib/index.js";

/** Every device walk creates starts with this; nothing else is ever deleted by walk. */
export const TAP_PREFIX = "wk";
/** The interface alias (`ip link set alias`) walk writes on its taps: `walk:<machine id>`. */
export const ALIAS_PREFIX = "walk:";
/** The kernel's IFNAMSIZ is 16 including the NUL. */
export const MAX_IFNAME = 15;

const MACHINE_ID_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;
const WALK_TAP_RE = /^wk[a-z0-9-]{1,13}$/;

function checkMachineId(id: string): void {
  if (!MACHINE_ID_RE.test(id)) {
    throw new WalkError("invalid_argument", `machine id ${JSON.stringify(id)} must be 1 to 64 lower-case letters, digits and '-'`);
  }
}

/** The tap device name of a machine: `wk` + the id's short form (14 bytes for a hex id). */
export function tapName(machineId: string): string {
  checkMachineId(machineId);
  return TAP_PREFIX + shortId(machineId);
}

/** True for names walk could have generated; GC also requires walk's alias on the device. */
export function isWalkTapName(name: string): boolean {
  return name.length <= MAX_IFNAME && WALK_TAP_RE.test(name);
}

export function tapAlias(machineId: string): string {
  return ALIAS_PREFIX + machineId;
}

/** The machine id recorded in a walk alias, or undefined when the alias is not walk's. */
export function machineIdFromAlias(alias: string | undefined): string | undefined {
  if (alias === undefined || !alias.startsWith(ALIAS_PREFIX)) return undefined;
  const id = alias.slice(ALIAS_PREFIX.length);
  return MACHINE_ID_RE.test(id) ? id : undefined;
}

/**
 * The guest MAC: 02 (locally administered, unicast) then 5 bytes of SHA-256 of the id, so the
 * same machine keeps the same MAC across restarts and hosts without it being stored anywhere.
 */
export function macFor(machineId: string): string {
  checkMachineId(machineId);
  const h = createHash("sha256").update(`walk-mac:${machineId}`).digest();
  return ["02", ...[...h.subarray(0, 5)].map((x) => x.toString(16).padStart(2, "0"))].join(":");
}
