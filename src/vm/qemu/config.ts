// How a host runs QEMU: the binary, the accelerator choice, and the presence check behind the
// "binary missing" error and `walk doctor`. QEMU comes from the distribution (Debian
// `qemu-system-x86`); this module only looks at the file, it never runs it.
import { constants as fsConstants, promises as fs } from "node:fs";
import { WalkError } from "../../lib/index.js";

/** `auto`: KVM when it can run a normal guest (see accel.ts), else TCG. */
export type AccelSetting = "auto" | "kvm" | "tcg";

export interface QemuConfig {
  /** Absolute path of `qemu-system-x86_64`. Default /usr/bin/qemu-system-x86_64. */
  qemuPath?: string;
  /** Default `auto`. */
  accel?: AccelSetting;
  /** Where the path is configured, quoted in the "not found" error so the operator knows what to change. */
  configHint?: string;
}

export const DEFAULT_QEMU_PATH = "/usr/bin/qemu-system-x86_64";
export const DEFAULT_QEMU_CONFIG_HINT = "or set `binary` under [qemu] in /etc/walk/walkd.toml";

export function qemuPathOf(config: QemuConfig): string {
  return config.qemuPath ?? DEFAULT_QEMU_PATH;
}

/** Throws `unavailable`, saying where walk looked and how to fix it, unless the binary is an executable file. */
export async function checkQemuBinary(config: QemuConfig): Promise<void> {
  const path = qemuPathOf(config);
  const fix = `Install it with \`apt-get install qemu-system-x86\` ${config.configHint ?? DEFAULT_QEMU_CONFIG_HINT}.`;
  let st;
  try {
    st = await fs.stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new WalkError("unavailable", `QEMU binary not found: walk looked at ${path} (${code}). ${fix}`, { cause: err, details: { path } });
  }
  if (!st.isFile()) throw new WalkError("unavailable", `QEMU binary ${path} is not a regular file. ${fix}`, { details: { path } });
  try {
    await fs.access(path, fsConstants.X_OK);
  } catch (err) {
    throw new WalkError("unavailable", `QEMU binary ${path} is not executable. ${fix}`, { cause: err, details: { path } });
  }
}
