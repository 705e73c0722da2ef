// What `walk doctor` says about running machines on QEMU here: the binary, and which accelerator
// machines would get and why. Looks at files only (accel.ts, config.ts); never starts QEMU.
import type { HostProblem } from "../firecracker/index.js";
import { resolveAccel, type AccelChoice, type KvmProbePaths } from "./accel.js";
import { checkQemuBinary, type QemuConfig } from "./config.js";

export interface QemuHostReport {
  /** Empty when QEMU machines can start. */
  problems: HostProblem[];
  /** The accelerator machines would run on; undefined when it cannot be chosen (see problems). */
  accel: AccelChoice | undefined;
}

export async function qemuHostReport(config: QemuConfig, paths?: KvmProbePaths): Promise<QemuHostReport> {
  const problems: HostProblem[] = [];
  try {
    await checkQemuBinary(config);
  } catch (err) {
    problems.push({ problem: (err as Error).message, fix: "apt-get install qemu-system-x86, or point `binary` under [qemu] at qemu-system-x86_64" });
  }
  let accel: AccelChoice | undefined;
  try {
    accel = await resolveAccel(config.accel, paths);
  } catch (err) {
    problems.push({ problem: (err as Error).message, fix: 'load kvm_intel or kvm_amd, or set accel = "auto" under [qemu]' });
  }
  return { problems, accel };
}
