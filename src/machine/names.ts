// Machine names and resources: the DNS-label rule for names (a name becomes the guest's
// hostname), generated default names, and the vCPU / memory / state-disk limits checked
// against the host before anything is created.
import os from "node:os";
import { randomBytes } from "node:crypto";
import { WalkError } from "../lib/index.js";

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function validateMachineName(name: string): string {
  if (!LABEL.test(name)) {
    throw new WalkError("invalid_argument", `machine name ${JSON.stringify(name)} must be a DNS label: 1 to 63 lower-case letters, digits or '-', not starting or ending with '-'`);
  }
  return name;
}

/** `<image basename>-<4 hex>`, e.g. `alpine-3f2a`; always a valid label. */
export function generateMachineName(imageReference: string): string {
  const last = imageReference.split("@")[0]!.split("/").at(-1)!.split(":")[0]!;
  const stem = last.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40).replace(/-+$/, "") || "machine";
  return `${stem}-${randomBytes(2).toString("hex")}`;
}

export interface Resources {
  vcpus: number;
  memoryMib: number;
  diskMib: number;
}

export const DEFAULT_RESOURCES: Resources = { vcpus: 1, memoryMib: 256, diskMib: 1024 };
/** Below this the guest kernel and init do not fit. */
export const MIN_MEMORY_MIB = 32;
/** ext4 with a journal needs a few MiB; the overlay upper and work dirs live there too. */
export const MIN_DISK_MIB = 16;
export const MAX_DISK_MIB = 2 * 1024 * 1024;
/** Both VMMs cap vCPUs at 32. */
export const MAX_VCPUS = 32;

/** Throws invalid_argument naming the limit when a resource does not fit this host. */
export function validateResources(r: Resources, host = { cpus: os.cpus().length, memoryMib: Math.floor(os.totalmem() / (1024 * 1024)) }): Resources {
  const maxCpus = Math.min(MAX_VCPUS, host.cpus);
  if (!Number.isInteger(r.vcpus) || r.vcpus < 1 || r.vcpus > maxCpus) {
    throw new WalkError("invalid_argument", `--cpus must be an integer from 1 to ${maxCpus} (this host has ${host.cpus} CPUs), got ${r.vcpus}`);
  }
  if (!Number.isInteger(r.memoryMib) || r.memoryMib < MIN_MEMORY_MIB || r.memoryMib > host.memoryMib) {
    throw new WalkError("invalid_argument", `--memory must be from ${MIN_MEMORY_MIB} MiB to the host's ${host.memoryMib} MiB, got ${r.memoryMib} MiB`);
  }
  if (!Number.isInteger(r.diskMib) || r.diskMib < MIN_DISK_MIB || r.diskMib > MAX_DISK_MIB) {
    throw new WalkError("invalid_argument", `--disk must be from ${MIN_DISK_MIB} MiB to ${MAX_DISK_MIB} MiB, got ${r.diskMib} MiB`);
  }
  return r;
}
