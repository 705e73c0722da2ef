// Where a QEMU machine's runtime files live: all under the spec's runtimeDir, named by role, so a
// restarted walkd (and a snapshot restore) finds the same paths again. Pure path logic.
import { join } from "node:path";
import { WalkError } from "../../lib/index.js";
import { unixSocketPath } from "../spec.js";
import type { MachineSpec } from "../types.js";

export interface QemuLayout {
  /** QMP server socket QEMU creates; `VmRecord.controlSocket`. */
  qmpSocket: string;
  /** QEMU's stderr (its own diagnostics), truncated at every start. */
  log: string;
  /** Host socket the agent port connects to (the host listens there), when the spec has one. */
  agentSocket: string | undefined;
}

export function qemuLayout(spec: MachineSpec): QemuLayout {
  const qmpSocket = join(spec.runtimeDir, "qmp.sock");
  unixSocketPath("QMP socket", qmpSocket, (what) => {
    throw new WalkError("invalid_argument", `machine ${JSON.stringify(spec.id)}: ${what}; use a shorter runtime dir`, { details: { machine: spec.id } });
  });
  return { qmpSocket, log: join(spec.runtimeDir, "qemu.log"), agentSocket: spec.agentChannel };
}
