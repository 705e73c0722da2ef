// The host's TSC frequency, for the `tsc_early_khz` QEMU guests get under TCG (args.ts): QEMU's
// emulated TSC follows the host's, and without the hint about 1 boot in 20 hangs calibrating it.
// Reads /sys and /proc only.
import { readFileSync } from "node:fs";
import { WalkError } from "../../lib/index.js";

/** Where the frequency is read; tests point them at fake files. */
export interface TscSources {
  tscFreqKhz: string;
  cpuinfo: string;
}

const HOST_SOURCES: TscSources = { tscFreqKhz: "/sys/devices/system/cpu/cpu0/tsc_freq_khz", cpuinfo: "/proc/cpuinfo" };

/** The host's TSC frequency in kHz; `unavailable` when neither source tells. */
export function hostTscKhz(sources: TscSources = HOST_SOURCES): number {
  try {
    const khz = Number(readFileSync(sources.tscFreqKhz, "utf8").trim());
    if (Number.isInteger(khz) && khz > 0) return khz;
  } catch {
    // Not exposed on every kernel; /proc/cpuinfo has the nominal frequency.
  }
  let cpuinfo = "";
  try {
    cpuinfo = readFileSync(sources.cpuinfo, "utf8");
  } catch {
    // Reported below with the missing frequency.
  }
  const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(cpuinfo)?.[1]);
  if (!(mhz > 0)) {
    throw new WalkError("unavailable", `cannot tell the host's TSC frequency (for tsc_early_khz under TCG): neither ${sources.tscFreqKhz} nor a "cpu MHz" line in ${sources.cpuinfo}`);
  }
  return Math.round(mhz * 1000);
}
