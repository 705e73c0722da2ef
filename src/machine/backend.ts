// Which VMM runs new machines on this host, and why: `backend = "auto"` picks Firecracker when
// KVM can run a normal guest and the firecracker binary exists, else QEMU. backendReport() is
// what `walk doctor` prints. Also builds the driver of a backend from the daemon's config.
import { constants as fsConstants, promises as fs } from "node:fs";
import type { Logger } from "../lib/index.js";
import { FirecrackerDriver, checkBinaries, firecrackerHostProblems, type HostProblem, type JailerConfig, type VmBackend, type VmDriver } from "../vm/index.js";
import { QemuDriver, probeKvm, type AccelSetting, type KvmProbe } from "../vm/qemu/index.js";

export type BackendSetting = "auto" | VmBackend;

export interface BackendConfig {
  backend: BackendSetting;
  firecracker: { binary: string; jailer?: JailerConfig; configHint: string };
  qemu: { binary: string; accel: AccelSetting; configHint: string };
}

export interface BackendReport {
  configured: BackendSetting;
  /** The backend new machines get; null when none can run here. */
  chosen: VmBackend | null;
  /** One sentence per fact that led to the choice. */
  reasons: string[];
  kvm: KvmProbe;
  firecracker: { binary: string; found: boolean };
  qemu: { binary: string; found: boolean };
  problems: HostProblem[];
}

async function executable(path: string): Promise<boolean> {
  try {
    const st = await fs.stat(path);
    await fs.access(path, fsConstants.X_OK);
    return st.isFile();
  } catch {
    return false;
  }
}

/** Resolves a bare command name on PATH; absolute paths are returned as they are. */
async function onPath(binary: string): Promise<string> {
  if (binary.includes("/")) return binary;
  for (const dir of (process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin").split(":")) {
    if (dir && (await executable(`${dir}/${binary}`))) return `${dir}/${binary}`;
  }
  return binary;
}

export async function backendReport(config: BackendConfig): Promise<BackendReport> {
  const kvm = await probeKvm();
  const fcFound = await checkBinaries({ firecrackerPath: config.firecracker.binary, configHint: config.firecracker.configHint, ...(config.firecracker.jailer ? { jailer: config.firecracker.jailer } : {}) }).then(
    () => true,
    () => false,
  );
  const qemuPath = await onPath(config.qemu.binary);
  const qemuFound = await executable(qemuPath);
  const reasons: string[] = [kvm.reason];
  reasons.push(fcFound ? `firecracker found at ${config.firecracker.binary}` : `firecracker not found at ${config.firecracker.binary}`);
  reasons.push(qemuFound ? `QEMU found at ${qemuPath}` : `QEMU not found (${config.qemu.binary})`);
  let chosen: VmBackend | null;
  if (config.backend === "auto") {
    chosen = kvm.usable && fcFound ? "firecracker" : qemuFound ? "qemu" : null;
    reasons.push(
      chosen === "firecracker"
        ? "auto: Firecracker, because KVM is usable and the binary exists"
        : chosen === "qemu"
          ? `auto: QEMU (${kvm.usable ? "KVM" : "TCG software emulation"}), because ${kvm.usable ? "the firecracker binary is missing" : "KVM cannot run Firecracker here"}`
          : "auto: no backend can run here",
    );
  } else {
    chosen = config.backend;
    reasons.push(`backend = "${config.backend}" is set in the config`);
  }
  const problems: HostProblem[] = [];
  if (chosen === "firecracker" || config.backend === "firecracker") {
    problems.push(...(await firecrackerHostProblems({ firecrackerPath: config.firecracker.binary, configHint: config.firecracker.configHint, ...(config.firecracker.jailer ? { jailer: config.firecracker.jailer } : {}) })));
  }
  if ((chosen === "qemu" || config.backend === "qemu") && !qemuFound) {
    problems.push({ problem: `QEMU (${config.qemu.binary}) is not installed`, fix: "apt-get install qemu-system-x86, or set binary under [qemu] in /etc/walk/walkd.toml" });
  }
  if (chosen === null) problems.push({ problem: "no VMM backend is available", fix: "install qemu-system-x86, or Firecracker on a host with KVM" });
  return { configured: config.backend, chosen, reasons, kvm, firecracker: { binary: config.firecracker.binary, found: fcFound }, qemu: { binary: qemuPath, found: qemuFound }, problems };
}

/** The driver of `backend`; `unavailable` when this walkd cannot run it. */
export function createDriver(backend: VmBackend, config: BackendConfig, log: Logger): VmDriver {
  if (backend === "firecracker") {
    return new FirecrackerDriver({ firecrackerPath: config.firecracker.binary, configHint: config.firecracker.configHint, ...(config.firecracker.jailer ? { jailer: config.firecracker.jailer } : {}) }, log);
  }
  return new QemuDriver({ qemuPath: config.qemu.binary, accel: config.qemu.accel, configHint: config.qemu.configHint }, log);
}
