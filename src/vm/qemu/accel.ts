// Which accelerator a QEMU machine runs on. KVM only when it can run a normal guest kernel; else
// TCG (software emulation). The rule, in order (docs/vmm-drivers.md, "QEMU"):
//   1. /dev/kvm opens read-write (a character device walkd may use);
//   2. the kvm_pvm module is not loaded: PVM's /dev/kvm opens fine but only runs PVM-aware guests
//      (a normal kernel dies with "KVM internal error ... emulation failure" and QEMU pauses);
//   3. a hardware module, kvm_intel or kvm_amd, is loaded.
// Reads /dev and /sys only; it never starts QEMU.
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { WalkError } from "../../lib/index.js";
import type { AccelSetting } from "./config.js";

export type Accel = "kvm" | "tcg";

export interface AccelChoice {
  accel: Accel;
  /** Why, in a sentence for `walk doctor` and logs. */
  reason: string;
}

/** Where the probe looks; tests point it at a fake tree. */
export interface KvmProbePaths {
  devKvm: string;
  sysModule: string;
}

const HOST_PATHS: KvmProbePaths = { devKvm: "/dev/kvm", sysModule: "/sys/module" };

export interface KvmProbe {
  /** Rule 1 holds. */
  opens: boolean;
  /** All three rules hold. */
  usable: boolean;
  reason: string;
}

/** Whether KVM can run a walk guest here, and why (not). */
export async function probeKvm(paths: KvmProbePaths = HOST_PATHS): Promise<KvmProbe> {
  try {
    const st = await fs.stat(paths.devKvm);
    if (!st.isCharacterDevice()) return { opens: false, usable: false, reason: `${paths.devKvm} is not a character device` };
    await (await fs.open(paths.devKvm, "r+")).close();
  } catch (err) {
    return { opens: false, usable: false, reason: `${paths.devKvm} cannot be opened read-write (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  }
  const loaded = async (m: string): Promise<boolean> => fs.stat(join(paths.sysModule, m)).then(() => true, () => false);
  if (await loaded("kvm_pvm")) return { opens: true, usable: false, reason: `${paths.devKvm} is PVM (module kvm_pvm), which cannot run a normal guest kernel` };
  for (const m of ["kvm_intel", "kvm_amd"]) {
    if (await loaded(m)) return { opens: true, usable: true, reason: `${paths.devKvm} is usable (module ${m})` };
  }
  return { opens: true, usable: false, reason: `${paths.devKvm} opens but neither kvm_intel nor kvm_amd is loaded` };
}

/** Resolves the configured setting to the accelerator QEMU is started with. */
export async function resolveAccel(setting: AccelSetting = "auto", paths: KvmProbePaths = HOST_PATHS): Promise<AccelChoice> {
  if (setting === "tcg") return { accel: "tcg", reason: "accel = tcg is configured" };
  const kvm = await probeKvm(paths);
  if (setting === "kvm") {
    // The operator asked for KVM: honour it (a PVM-aware guest may run), but not without a device.
    if (!kvm.opens) {
      throw new WalkError("unavailable", `accel = kvm is configured but ${kvm.reason}. Enable KVM on the host (load kvm_intel or kvm_amd) or set accel = "auto" or "tcg" under [qemu].`);
    }
    return { accel: "kvm", reason: `accel = kvm is configured (${kvm.reason})` };
  }
  return kvm.usable ? { accel: "kvm", reason: kvm.reason } : { accel: "tcg", reason: `TCG (software emulation): ${kvm.reason}` };
}
