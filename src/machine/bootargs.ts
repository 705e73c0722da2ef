// The one place the kernel command line of a machine is made: walk's fixed flags plus the walk.*
// parameters, from host-generated values only (the machine name is a validated DNS label).
// Networking (src/net) adds ip/gw/dns/mtu here once machines get a NIC. (The QEMU driver adds
// tsc_early_khz itself under TCG.)
import { guestCmdline, type GuestParams } from "../base/index.js";

export interface BootArgsInput {
  hostname: string;
  /** Guest network parameters, when the machine has a NIC. */
  network?: Pick<GuestParams, "ip" | "gateway" | "dns" | "mtu">;
  graceSeconds?: number;
}

export function machineBootArgs(input: BootArgsInput): string {
  return guestCmdline({
    hostname: input.hostname,
    ...input.network,
    ...(input.graceSeconds !== undefined ? { graceSeconds: input.graceSeconds } : {}),
  });
}
