// `walk doctor`: what this host can run and why. Gathers the backend choice (src/machine), the
// guest base (src/base), networking (src/net) and the host tools walk calls, into one report
// where every problem comes with its fix. Reads only; changes nothing.
import { execFile } from "../lib/index.js";
import { backendReport, type BackendConfig } from "../machine/index.js";
import { listBases } from "../base/index.js";
import type { DoctorWire } from "../api/schemas.js";

type Check = DoctorWire["checks"][number];

/** Host tools walk runs, with the Debian package that has them. */
const HOST_TOOLS: readonly [tool: string, args: string[], pkg: string, why: string][] = [
  ["mkfs.ext4", ["-V"], "e2fsprogs", "creates state disks"],
  ["e2fsck", ["-V"], "e2fsprogs", "checks disks"],
  ["cp", ["--version"], "coreutils", "clones app disks"],
  ["zstd", ["--version"], "zstd", "decompresses zstd layers quickly"],
];

export interface DoctorDeps {
  dataDir: string;
  backends: BackendConfig;
  /** Networking's own findings, when networking is configured. */
  network?: () => Promise<{ problem: string; fix: string }[]>;
}

export async function doctorReport(deps: DoctorDeps): Promise<DoctorWire> {
  const backend = await backendReport(deps.backends);
  const checks: Check[] = [
    {
      name: "backend",
      status: backend.chosen !== null ? "ok" : "fail",
      detail: backend.chosen === null ? "no VMM backend can run here" : `${backend.chosen} will run new machines`,
      fix: null,
    },
    { name: "kvm", status: backend.kvm.usable ? "ok" : "warn", detail: backend.kvm.reason, fix: backend.kvm.usable ? null : "machines run under QEMU with TCG (software emulation): slower, but real VMs" },
    {
      name: "firecracker",
      status: backend.firecracker.found ? "ok" : backend.chosen === "firecracker" ? "fail" : "warn",
      detail: backend.firecracker.found
        ? `found at ${backend.firecracker.binary}`
        : `not found at ${backend.firecracker.binary}; Firecracker cannot be tested on hosts without usable KVM, and walk's CI never boots it (its driver is tested against a spec-checking stand-in)`,
      fix: backend.firecracker.found ? null : "install Firecracker from its release tarball and set binary under [firecracker] in /etc/walk/walkd.toml",
    },
    { name: "qemu", status: backend.qemu.found ? "ok" : backend.chosen === "firecracker" ? "warn" : "fail", detail: backend.qemu.found ? `found at ${backend.qemu.binary}` : `not found (${backend.qemu.binary})`, fix: backend.qemu.found ? null : "apt-get install qemu-system-x86" },
    ...backend.problems.map((p): Check => ({ name: "backend", status: "fail", detail: p.problem, fix: p.fix })),
    await baseCheck(deps.dataDir),
    ...(await Promise.all(HOST_TOOLS.map(toolCheck))),
    ...(deps.network ? (await deps.network()).map((p): Check => ({ name: "network", status: "fail", detail: p.problem, fix: p.fix })) : []),
  ];
  return { ok: checks.every((c) => c.status !== "fail"), backend: backend.chosen, reasons: backend.reasons, checks };
}

async function baseCheck(dataDir: string): Promise<Check> {
  const bases = await listBases(dataDir);
  const def = bases.find((b) => b.isDefault);
  if (!def) return { name: "base", status: "fail", detail: "no guest base is installed", fix: "walk base build (or walk base import --kernel PATH)" };
  if (def.problem !== undefined) return { name: "base", status: "fail", detail: `the default base ${def.version} is unusable: ${def.problem}`, fix: "walk base build, or walk base default VERSION" };
  return { name: "base", status: "ok", detail: `default base ${def.version}`, fix: null };
}

async function toolCheck([tool, args, pkg, why]: (typeof HOST_TOOLS)[number]): Promise<Check> {
  const r = await execFile(tool, args, { timeoutMs: 5000 }).catch(() => ({ code: -1 }));
  const ok = r.code === 0;
  return { name: `tool:${tool}`, status: ok ? "ok" : "fail", detail: ok ? `${tool} found (${why})` : `${tool} is missing (${why})`, fix: ok ? null : `apt-get install ${pkg}` };
}
