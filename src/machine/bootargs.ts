// The one place the kernel command line of a machine is made: walk's fixed flags plus the walk.*
// parameters, from host-generated values only (the machine name is a validated DNS label).
// A networked machine adds ip/gw/dns/mtu from its src/net lease. (The QEMU driver adds
// tsc_early_khz itself under TCG.)
import os from "node:os";
import { guestCmdline, type GuestParams } from "../base/index.js";

export interface BootArgsInput {
  hostname: string;
  /** Guest network parameters, when the machine has a NIC. */
  network?: Pick<GuestParams, "ip" | "gateway" | "dns" | "mtu">;
  graceSeconds?: number;
  /** The signal a stop request becomes for the workload (the image's StopSignal). */
  stopSignal?: number;
  /** The VMM provides the agent channel's virtio-console port (QEMU). */
  agent?: boolean;
}

/**
 * The number of an image's StopSignal (`SIGQUIT`, `QUIT` or `3`), when the init can deliver it:
 * 1..31 except SIGKILL and SIGSTOP. Undefined (the init's SIGTERM) otherwise.
 */
export function stopSignalNumber(text: string | null | undefined): number | undefined {
  if (text === null || text === undefined || text === "") return undefined;
  const upper = text.trim().toUpperCase();
  const n = /^\d{1,2}$/.test(upper) ? Number(upper) : (os.constants.signals as Record<string, number | undefined>)[upper.startsWith("SIG") ? upper : `SIG${upper}`];
  return n !== undefined && n >= 1 && n <= 31 && n !== 9 && n !== 19 ? n : undefined;
}

export function machineBootArgs(input: BootArgsInput): string {
  return guestCmdline({
    hostname: input.hostname,
    ...input.network,
    ...(input.graceSeconds !== undefined ? { graceSeconds: input.graceSeconds } : {}),
    ...(input.stopSignal !== undefined ? { stopSignal: input.stopSignal } : {}),
    ...(input.agent === true ? { agent: "virtio-console" as const } : {}),
  });
}
