// Validation of a MachineSpec before any driver acts on it, shared by every backend, and the
// defaults of its timeouts. A spec is built by walk itself, so a failure here is a walk bug or a
// bad host setting; either way it is reported before anything is spawned or written.
import { isAbsolute } from "node:path";
import { WalkError } from "../lib/index.js";
import type { MachineSpec, VmTimeouts } from "./types.js";

export const DEFAULT_TIMEOUTS: VmTimeouts = { socketMs: 5000, requestMs: 5000 };
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;

/** The x86 kernel command line limit both VMMs enforce. */
export const MAX_BOOT_ARGS_BYTES = 2048;
/** sun_path is 108 bytes including the terminating NUL. */
export const MAX_UNIX_SOCKET_PATH_BYTES = 107;

const MACHINE_ID = /^[A-Za-z0-9-]{1,64}$/;
const DRIVE_ID = /^[A-Za-z0-9_]{1,64}$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const TAP = /^[A-Za-z0-9_.-]{1,15}$/;

export function timeoutsOf(spec: MachineSpec): VmTimeouts {
  return { ...DEFAULT_TIMEOUTS, ...spec.timeouts };
}

export function validateMachineSpec(spec: MachineSpec): void {
  const bad = (what: string): never => {
    throw new WalkError("invalid_argument", `machine ${JSON.stringify(spec.id)}: ${what}`, { details: { machine: spec.id } });
  };
  if (!MACHINE_ID.test(spec.id)) bad("the id must be 1 to 64 letters, digits or '-'");
  absolute("kernel path", spec.kernelPath, bad);
  absolute("console log path", spec.consoleLogPath, bad);
  absolute("runtime dir", spec.runtimeDir, bad);
  if (spec.agentChannel !== undefined) {
    absolute("agent channel", spec.agentChannel, bad);
    unixSocketPath("agent channel", spec.agentChannel, bad);
  }
  if (Buffer.byteLength(spec.bootArgs) > MAX_BOOT_ARGS_BYTES) bad(`the kernel command line is longer than ${MAX_BOOT_ARGS_BYTES} bytes`);
  if (/[\0\n]/.test(spec.bootArgs)) bad("the kernel command line contains a NUL or newline");
  if (!Number.isInteger(spec.vcpus) || spec.vcpus < 1 || spec.vcpus > 32) bad(`vcpus must be an integer from 1 to 32, got ${spec.vcpus}`);
  if (!Number.isInteger(spec.memMib) || spec.memMib < 1) bad(`memory must be a positive integer number of MiB, got ${spec.memMib}`);
  if (spec.drives.length === 0) bad("it has no drives");
  const ids = new Set<string>();
  for (const d of spec.drives) {
    if (!DRIVE_ID.test(d.id)) bad(`drive id ${JSON.stringify(d.id)} must be 1 to 64 letters, digits or '_'`);
    if (ids.has(d.id)) bad(`drive id ${d.id} is used twice`);
    ids.add(d.id);
    absolute(`drive ${d.id} path`, d.path, bad);
  }
  const roots = spec.drives.filter((d) => d.root === true).length;
  if (roots !== 1) bad(`exactly one drive must be the root drive, found ${roots}`);
  if (spec.network !== undefined) {
    if (!TAP.test(spec.network.tap)) bad(`tap name ${JSON.stringify(spec.network.tap)} must be 1 to 15 letters, digits, '_', '.' or '-'`);
    if (!MAC.test(spec.network.mac)) bad(`MAC address ${JSON.stringify(spec.network.mac)} must look like 06:00:ac:10:00:02`);
  }
  for (const [k, v] of Object.entries(spec.timeouts ?? {})) {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1) bad(`timeout ${k} must be a positive integer of milliseconds`);
  }
}

/** Throws invalid_argument when a Unix socket path would not fit in sun_path. */
export function unixSocketPath(what: string, path: string, bad: (what: string) => never): void {
  if (Buffer.byteLength(path) > MAX_UNIX_SOCKET_PATH_BYTES) bad(`the ${what} ${path} is longer than the ${MAX_UNIX_SOCKET_PATH_BYTES} bytes a Unix socket path can have`);
}

function absolute(what: string, p: string, bad: (what: string) => never): void {
  if (!isAbsolute(p) || p.includes("\0")) bad(`the ${what} must be an absolute path, got ${JSON.stringify(p)}`);
}
