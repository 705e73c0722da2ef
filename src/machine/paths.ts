// Deterministic host paths of a machine, all derived from its id, so every step finds its own
// leftovers and reconcile knows exactly what is walk's: RUNTIME/machines/<id>/ for the VMM's
// sockets and walkd's end of the agent channel, DATA/machines/<id>/ for the state disk and the
// console log.
import { join } from "node:path";

export const MACHINE_ID = /^[0-9a-f]{32}$/;

export interface MachinePaths {
  runtimeDir: string;
  /** walkd listens here; the VMM connects (QEMU's virtio-serial port walk.agent). */
  agentSocket: string;
  dataDir: string;
  stateDisk: string;
  consoleLog: string;
  /** The previous console log after a rotation. */
  consoleLogOld: string;
  /** (time, offset) checkpoints of console.log, for `logs --since`. */
  consoleIndex: string;
  consoleIndexOld: string;
}

export function machinesRuntimeRoot(runtimeDir: string): string {
  return join(runtimeDir, "machines");
}

export function machinesDataRoot(dataDir: string): string {
  return join(dataDir, "machines");
}

export function machinePaths(dataDir: string, runtimeDir: string, id: string): MachinePaths {
  const data = join(machinesDataRoot(dataDir), id);
  return {
    runtimeDir: join(machinesRuntimeRoot(runtimeDir), id),
    agentSocket: join(machinesRuntimeRoot(runtimeDir), id, "agent.sock"),
    dataDir: data,
    stateDisk: join(data, "state.ext4"),
    consoleLog: join(data, "console.log"),
    consoleLogOld: join(data, "console.log.1"),
    consoleIndex: join(data, "console.idx"),
    consoleIndexOld: join(data, "console.idx.1"),
  };
}
