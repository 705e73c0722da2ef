// Re-attach after a daemon restart: the checks both drivers make before they trust a recorded
// VMM. The record must be this backend's and name the machine's control socket, the pid must be
// alive and started when recorded (not reused), the socket must be a socket; then the backend asks
// the VMM who it is, and the pid must still be the process that answered. Asking is the backend's
// (it knows the VMM's protocol); this module knows none.
import { promises as fs } from "node:fs";
import { WalkError } from "../lib/index.js";
import { isSameProcessAlive, readProcessStat } from "./proc.js";
import { adoptVmm, type VmmProcess } from "./process.js";
import { timeoutsOf } from "./spec.js";
import type { MachineSpec, VmBackend, VmRecord } from "./types.js";

/** Re-attach probes a VMM that may be wedged: bound it tighter than ordinary requests. */
const ATTACH_PROBE_MS = 2000;

/** What the backend gets to ask the VMM with: how to refuse (`conflict`), and the bound of each request. */
export interface AttachProbe {
  refuse: (why: string) => never;
  probeMs: number;
}

/**
 * Checks `record` against the machine's `control` socket, runs `ask` (the backend's questions to
 * the VMM), checks the pid again, and returns the adopted process with what `ask` returned.
 * `conflict` when the record or the VMM is not this machine's; `not_found` when the process is gone.
 */
export async function adoptRecordedVmm<T>(
  spec: MachineSpec,
  record: VmRecord,
  control: { backend: VmBackend; socket: string; name: string },
  ask: (probe: AttachProbe) => Promise<T>,
): Promise<{ proc: VmmProcess; answer: T }> {
  const refuse = (why: string): never => {
    throw new WalkError("conflict", `will not re-attach machine ${spec.id} to pid ${record.pid}: ${why}`, { details: { machine: spec.id, pid: record.pid } });
  };
  if (record.backend !== control.backend) refuse(`it was recorded as a ${record.backend} VM`);
  if (record.controlSocket !== control.socket) refuse(`its recorded ${control.name} ${record.controlSocket} is not the machine's (${control.socket})`);
  const stat = await readProcessStat(record.pid);
  if (stat === null || stat.state === "Z" || stat.state === "X") {
    throw new WalkError("not_found", `the VMM of machine ${spec.id} (pid ${record.pid}) is no longer running`, { details: { machine: spec.id, pid: record.pid } });
  }
  if (stat.startTime !== record.startTime) refuse(`the process with that pid started at tick ${stat.startTime}, not ${record.startTime}: the pid was reused`);
  const sock = await fs.lstat(control.socket).catch(() => undefined);
  if (sock === undefined) refuse(`its ${control.name} ${control.socket} is missing`);
  else if (!sock.isSocket()) refuse(`${control.socket} is not a socket`);
  const answer = await ask({ refuse, probeMs: Math.min(ATTACH_PROBE_MS, timeoutsOf(spec).requestMs) });
  // The probe took time: make sure the pid still is the process that answered.
  if (!(await isSameProcessAlive(record.pid, record.startTime))) {
    throw new WalkError("not_found", `the VMM of machine ${spec.id} (pid ${record.pid}) exited during re-attach`);
  }
  return { proc: adoptVmm(record.pid, record.startTime), answer };
}
