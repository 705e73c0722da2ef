// Where each file of one Firecracker VM lives, as walk sees it on the host and as Firecracker
// sees it. Without the jailer both are the same path; inside a jail Firecracker sees paths
// relative to its chroot. Pure path arithmetic: no I/O (jail.ts builds the jail).
import { basename, join } from "node:path";
import { WalkError } from "../../lib/index.js";
import { unixSocketPath } from "../spec.js";
import type { MachineSpec, SnapshotFiles } from "../types.js";
import type { FirecrackerConfig } from "./config.js";

/** One path, from both sides. */
export interface MappedPath {
  host: string;
  vmm: string;
}

export interface FirecrackerLayout {
  /** Set when jailed: `root` is `<chroot base>/<binary name>/<id>`, `chroot` is `root/root`. */
  jail?: { root: string; chroot: string };
  apiSocket: MappedPath;
  /** Firecracker's own log (PUT /logger) and its stderr. */
  vmmLog: MappedPath;
  metrics: MappedPath;
  kernel: MappedPath;
  drives: Map<string, MappedPath>;
  agent?: MappedPath;
}

/** The in-jail names. Fixed, so a snapshot taken in one jail restores in the next one. */
export const JAIL_PATHS = {
  apiSocket: "/run/firecracker.socket",
  vmmLog: "/firecracker.log",
  metrics: "/firecracker.metrics",
  kernel: "/vmlinux",
  agent: "/run/agent.sock",
  snapshotState: "/snapshot/state",
  snapshotMemory: "/snapshot/memory",
  drive: (id: string): string => `/drives/${id}`,
} as const;

export function firecrackerLayout(config: FirecrackerConfig, spec: MachineSpec): FirecrackerLayout {
  const layout = config.jailer ? jailedLayout(config, spec) : plainLayout(spec);
  const bad = (what: string): never => {
    throw new WalkError("invalid_argument", `machine ${spec.id}: ${what}`, { details: { machine: spec.id } });
  };
  unixSocketPath("API socket path", layout.apiSocket.host, bad);
  if (layout.agent) unixSocketPath("agent socket path", layout.agent.host, bad);
  return layout;
}

function plainLayout(spec: MachineSpec): FirecrackerLayout {
  const same = (p: string): MappedPath => ({ host: p, vmm: p });
  return {
    apiSocket: same(join(spec.runtimeDir, "firecracker.sock")),
    vmmLog: same(join(spec.runtimeDir, "firecracker.log")),
    metrics: same(join(spec.runtimeDir, "firecracker.metrics")),
    kernel: same(spec.kernelPath),
    drives: new Map(spec.drives.map((d) => [d.id, same(d.path)])),
    ...(spec.agentChannel === undefined ? {} : { agent: same(spec.agentChannel) }),
  };
}

function jailedLayout(config: FirecrackerConfig, spec: MachineSpec): FirecrackerLayout {
  const base = config.jailer!.chrootBaseDir;
  const root = join(base, basename(config.firecrackerPath), spec.id);
  const chroot = join(root, "root");
  const inJail = (vmm: string): MappedPath => ({ host: join(chroot, vmm), vmm });
  return {
    jail: { root, chroot },
    apiSocket: inJail(JAIL_PATHS.apiSocket),
    vmmLog: inJail(JAIL_PATHS.vmmLog),
    metrics: inJail(JAIL_PATHS.metrics),
    kernel: inJail(JAIL_PATHS.kernel),
    drives: new Map(spec.drives.map((d) => [d.id, inJail(JAIL_PATHS.drive(d.id))])),
    ...(spec.agentChannel === undefined ? {} : { agent: inJail(JAIL_PATHS.agent) }),
  };
}

/** The snapshot files as Firecracker must name them: the caller's paths, or fixed names inside the jail. */
export function snapshotPaths(layout: FirecrackerLayout, files: SnapshotFiles): { state: MappedPath; memory: MappedPath } {
  if (!layout.jail) return { state: { host: files.statePath, vmm: files.statePath }, memory: { host: files.memoryPath, vmm: files.memoryPath } };
  const chroot = layout.jail.chroot;
  return {
    state: { host: join(chroot, JAIL_PATHS.snapshotState), vmm: JAIL_PATHS.snapshotState },
    memory: { host: join(chroot, JAIL_PATHS.snapshotMemory), vmm: JAIL_PATHS.snapshotMemory },
  };
}
