// The guest kernel command line: walk's fixed boot flags plus the walk.* parameters walk-init
// reads (docs/guest-contract.md, "Kernel command line"). Values are host-generated and validated
// here with the same rules the init applies, so a bad value fails on the host with a clear
// error instead of as a guest "cmdline" status. Never put user-supplied text on it. Flags that
// depend on the VMM (QEMU's tsc_early_khz under TCG) are the driver's: src/vm/qemu/args.ts.
import { WalkError } from "../lib/errors.js";

export interface GuestParams {
  /** eth0 address with prefix length, e.g. { address: "10.0.0.2", prefix: 24 }. */
  ip?: { address: string; prefix: number };
  /** Default gateway; must be inside the ip's subnet. */
  gateway?: string;
  /** Up to three IPv4 name servers, written to /etc/resolv.conf. */
  dns?: string[];
  mtu?: number;
  /** One lower-case DNS label (machine names are validated by the caller to this shape). */
  hostname?: string;
  /** Seconds between a stop request and SIGKILL (default 10). */
  graceSeconds?: number;
  /** The signal a stop request becomes for the workload (default SIGTERM = 15). */
  stopSignal?: number;
  /** "virtio-console": the VMM provides a port named walk.agent (QEMU). */
  agent?: "virtio-console";
}

/**
 * Boot flags every walk guest gets: serial console, reboot (and panic) ends the VM, no keyboard
 * probing, and no IO-APIC timer check (KVM guests skip it anyway; under a loaded TCG host it
 * fails and panics the boot).
 */
export const BASE_BOOT_ARGS = [
  "console=ttyS0",
  "reboot=t",
  "panic=-1",
  "no_timer_check",
  "i8042.noaux",
  "i8042.nomux",
  "i8042.nopnp",
  "i8042.dumbkbd",
  "quiet",
  "root=/dev/vda",
  "ro",
  "rootfstype=ext4",
  "init=/sbin/walk-init",
] as const;

/** The kernel's own limit (x86 COMMAND_LINE_SIZE). */
const MAX_CMDLINE = 2048;
const LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function bad(what: string, value: unknown): never {
  throw new WalkError("invalid_argument", `guest parameter ${what} is invalid: ${JSON.stringify(value)}`);
}

function ipv4(what: string, s: string): number {
  const parts = s.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) bad(what, s);
  return parts.reduce((acc, p) => ((acc << 8) | Number(p)) >>> 0, 0);
}

function intIn(what: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) bad(what, v);
  return v;
}

/** Builds the full command line; throws invalid_argument naming the bad parameter. */
export function guestCmdline(p: GuestParams = {}): string {
  const args: string[] = [...BASE_BOOT_ARGS];
  if (p.ip) {
    ipv4("ip.address", p.ip.address);
    args.push(`walk.ip=${p.ip.address}/${intIn("ip.prefix", p.ip.prefix, 1, 32)}`);
  }
  if (p.gateway !== undefined) {
    if (!p.ip) bad("gateway (needs ip)", p.gateway);
    const mask = p.ip.prefix === 32 ? 0xffffffff : (~(0xffffffff >>> p.ip.prefix)) >>> 0;
    if (((ipv4("gateway", p.gateway) & mask) >>> 0) !== ((ipv4("ip.address", p.ip.address) & mask) >>> 0)) {
      bad("gateway (outside the ip's subnet)", p.gateway);
    }
    args.push(`walk.gw=${p.gateway}`);
  }
  if (p.dns !== undefined && p.dns.length > 0) {
    if (p.dns.length > 3) bad("dns (at most 3)", p.dns);
    for (const d of p.dns) ipv4("dns", d);
    args.push(`walk.dns=${p.dns.join(",")}`);
  }
  if (p.mtu !== undefined) args.push(`walk.mtu=${intIn("mtu", p.mtu, 68, 65535)}`);
  if (p.hostname !== undefined) {
    if (!LABEL_RE.test(p.hostname)) bad("hostname", p.hostname);
    args.push(`walk.hostname=${p.hostname}`);
  }
  if (p.graceSeconds !== undefined) args.push(`walk.grace=${intIn("graceSeconds", p.graceSeconds, 0, 3600)}`);
  if (p.stopSignal !== undefined) {
    const s = intIn("stopSignal", p.stopSignal, 1, 31);
    if (s === 9 || s === 19) bad("stopSignal (SIGKILL and SIGSTOP cannot be handled)", s);
    args.push(`walk.stopsig=${s}`);
  }
  if (p.agent !== undefined) {
    if (p.agent !== "virtio-console") bad("agent", p.agent);
    args.push("walk.agent=virtio-console");
  }
  const line = args.join(" ");
  if (line.length >= MAX_CMDLINE) throw new WalkError("invalid_argument", `the guest command line is ${line.length} bytes; the limit is ${MAX_CMDLINE - 1}`);
  return line;
}
