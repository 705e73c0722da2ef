// The QEMU command line of one walk machine: `-M microvm,acpi=off`, virtio-mmio block, serial,
// net and console devices, the console appended to the machine's log, QMP on a Unix socket, and
// vCPUs held (-S) until the driver has checked the VMM and sends `cont`. Builds argv only; it
// must not spawn anything.
import { MAX_BOOT_ARGS_BYTES } from "../spec.js";
import { WalkError } from "../../lib/index.js";
import type { MachineSpec } from "../types.js";
import type { Accel } from "./accel.js";
import type { QemuLayout } from "./layout.js";

/** The QEMU `-name`, reported by QMP `query-name`: how re-attach knows whose VMM answers. */
export function qemuName(machineId: string): string {
  return `walk-${machineId}`;
}

/** QEMU's option parser splits on commas; a literal comma in a value is written twice. */
export function optValue(s: string): string {
  return s.replace(/,/g, ",,");
}

/**
 * The kernel command line QEMU is given: the spec's, plus `tsc_early_khz` under TCG when the host
 * did not pass it (without it about 1 boot in 20 hangs calibrating the TSC).
 */
export function bootArgsFor(spec: MachineSpec, accel: Accel, tscKhz: () => number): string {
  if (accel !== "tcg" || /(^| )tsc_early_khz=/.test(spec.bootArgs)) return spec.bootArgs;
  const args = `${spec.bootArgs} tsc_early_khz=${tscKhz()}`.trim();
  if (Buffer.byteLength(args) > MAX_BOOT_ARGS_BYTES) {
    throw new WalkError("invalid_argument", `machine ${JSON.stringify(spec.id)}: the kernel command line with tsc_early_khz is longer than ${MAX_BOOT_ARGS_BYTES} bytes`, { details: { machine: spec.id } });
  }
  return args;
}

export interface QemuLaunch {
  accel: Accel;
  /** The full kernel command line (bootArgsFor). */
  bootArgs: string;
  /** Wait for a migration stream on QMP `migrate-incoming` (snapshot restore) instead of booting. */
  incoming: boolean;
}

export function qemuCommandLine(spec: MachineSpec, layout: QemuLayout, launch: QemuLaunch): string[] {
  const args = [
    "-name", qemuName(spec.id),
    "-M", "microvm,acpi=off",
    "-accel", launch.accel,
    "-cpu", launch.accel === "kvm" ? "host" : "max",
    "-m", String(spec.memMib),
    "-smp", String(spec.vcpus),
    "-nodefaults", "-no-user-config", "-display", "none",
    // seccomp: a guest that takes over QEMU still cannot gain privileges or use obsolete syscalls.
    // Spawning stays allowed: snapshots run `cat` through an exec: migration URI.
    "-sandbox", "on,obsolete=deny,elevateprivileges=deny,resourcecontrol=deny",
    // The guest ends the VM by rebooting (reboot=t); QEMU then exits instead of resetting.
    "-no-reboot",
    "-S",
    // Plain strings to QEMU (not option lists): no comma escaping.
    "-kernel", spec.kernelPath,
    "-append", launch.bootArgs,
    "-chardev", `file,id=console,path=${optValue(spec.consoleLogPath)},append=on`,
    "-serial", "chardev:console",
    // An i8042, so QMP send-key ctrl-alt-delete reaches the guest as Firecracker's SendCtrlAltDel does.
    "-device", "i8042",
  ];
  // The root drive first: the guest names virtio-mmio disks in this order, and boots from vda.
  const drives = [...spec.drives.filter((d) => d.root === true), ...spec.drives.filter((d) => d.root !== true)];
  for (const d of drives) {
    args.push(
      "-drive", `id=${d.id},file=${optValue(d.path)},format=raw,if=none${d.readOnly ? ",readonly=on" : ""}`,
      "-device", `virtio-blk-device,drive=${d.id}`,
    );
  }
  if (layout.agentSocket !== undefined) {
    // QEMU connects to the host's listener, and reconnects (every second) to the next walkd's.
    args.push(
      "-chardev", `socket,id=agent,path=${optValue(layout.agentSocket)},reconnect=1`,
      "-device", "virtio-serial-device,id=vser0",
      "-device", "virtserialport,bus=vser0.0,chardev=agent,name=walk.agent",
    );
  }
  if (spec.network !== undefined) {
    args.push(
      "-netdev", `tap,id=net0,ifname=${spec.network.tap},script=no,downscript=no`,
      "-device", `virtio-net-device,netdev=net0,mac=${spec.network.mac}`,
    );
  }
  args.push("-chardev", `socket,id=qmp,path=${optValue(layout.qmpSocket)},server=on,wait=off`, "-mon", "chardev=qmp,mode=control");
  if (launch.incoming) args.push("-incoming", "defer");
  return args;
}
