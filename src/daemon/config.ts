// walkd's configuration: defaults, then the TOML config file, then environment variables, then
// command-line flags, each overriding the one before. Validates everything once, here.
import { readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { WalkError } from "../lib/index.js";
import { DEFAULT_BACKOFF, DEFAULT_MACHINES_CONFIG, NETWORK_MODES, type BackendConfig, type BackoffConfig, type NetworkMode } from "../machine/index.js";
import { parseNetConfig, type NetConfig } from "../net/index.js";
import { parseActivatorConfig, type ActivatorDaemonConfig } from "../apps/activator-config.js";

export interface DaemonConfig {
  dataDir: string;
  runtimeDir: string;
  socketPath: string;
  /** Group owning the socket (mode 0660 when set, else 0600). */
  socketGroup: number | null;
  tcp: { host: string; port: number; tokenFile: string } | null;
  registry: {
    insecure: string[];
    certsDirs: string[];
    allowLocalhostHttp: boolean;
    /** Token realm hosts, per registry API host, that may receive credentials. */
    trustedTokenRealms: Record<string, string[]>;
    concurrency: number;
  };
  logLevel: string;
  /** [machines], [firecracker] and [qemu] (docs/machines.md). */
  machines: MachinesDaemonConfig;
  /** [network] (docs/networking.md). */
  network: NetConfig;
  /** [activator] (docs/apps.md). */
  activator: ActivatorDaemonConfig;
}

export interface MachinesDaemonConfig {
  backends: BackendConfig;
  backoff: BackoffConfig;
  consoleMaxBytes: number;
  stopTimeoutMs: number;
  pollMs: number;
  /** machines.refresh_timeout_ms: how long a restored guest has to confirm its clock and entropy refresh. */
  refreshTimeoutMs: number;
  /** machines.network: the mode of a machine whose request names none ("default" unless set). */
  defaultNetwork: NetworkMode;
}

export const DEFAULT_CONFIG_FILE = "/etc/walk/walkd.toml";

export interface ConfigInput {
  flags: Partial<Record<"config" | "dataDir" | "runtimeDir" | "socket" | "socketGroup" | "tcp" | "tokenFile" | "logLevel", string>> & {
    insecureRegistry?: string[];
  };
  env: NodeJS.ProcessEnv;
}

export function loadConfig({ flags, env }: ConfigInput): DaemonConfig {
  const file = flags.config ?? env.WALK_CONFIG ?? DEFAULT_CONFIG_FILE;
  const fromFile = readConfigFile(file, flags.config !== undefined || env.WALK_CONFIG !== undefined);
  const pick = (flag: string | undefined, envName: string, fileValue: unknown, fallback: string): string =>
    flag ?? env[envName] ?? (typeof fileValue === "string" ? fileValue : fallback);

  const dataDir = absolute("data dir", pick(flags.dataDir, "WALK_DATA_DIR", fromFile.data_dir, "/var/lib/walk"));
  const runtimeDir = absolute("runtime dir", pick(flags.runtimeDir, "WALK_RUNTIME_DIR", fromFile.runtime_dir, "/run/walk"));
  const socketPath = absolute("socket", pick(flags.socket, "WALK_SOCKET", fromFile.socket, join(runtimeDir, "walkd.sock")));
  const groupText = flags.socketGroup ?? env.WALK_SOCKET_GROUP ?? fileValueString(fromFile.socket_group);
  const socketGroup = groupText === undefined ? null : integer("socket group", groupText, 0, 2 ** 31);

  const tcpText = flags.tcp ?? env.WALK_TCP ?? fileValueString(fromFile.tcp);
  let tcp: DaemonConfig["tcp"] = null;
  if (tcpText !== undefined) {
    const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d+)$/.exec(tcpText);
    if (!m) throw new WalkError("invalid_argument", `--tcp must be HOST:PORT, got ${JSON.stringify(tcpText)}`);
    const tokenFile = flags.tokenFile ?? env.WALK_TOKEN_FILE ?? fileValueString(fromFile.token_file);
    if (tokenFile === undefined) {
      throw new WalkError("invalid_argument", "the TCP listener needs a bearer token: pass --token-file FILE (the file holds the token)");
    }
    tcp = { host: m[1]!.replace(/^\[|\]$/g, ""), port: integer("TCP port", m[2]!, 0, 65535), tokenFile: absolute("token file", tokenFile) };
  }

  const reg = (fromFile.registry ?? {}) as Record<string, unknown>;
  const envInsecure = env.WALK_INSECURE_REGISTRIES?.split(",").map((s) => s.trim()).filter(Boolean) ?? [];
  const registry: DaemonConfig["registry"] = {
    insecure: [...stringList("registry.insecure", reg.insecure), ...envInsecure, ...(flags.insecureRegistry ?? [])],
    certsDirs: reg.certs_dirs === undefined ? ["/etc/walk/certs.d", "/etc/docker/certs.d"] : stringList("registry.certs_dirs", reg.certs_dirs),
    allowLocalhostHttp: reg.allow_localhost_http === undefined ? true : bool("registry.allow_localhost_http", reg.allow_localhost_http),
    trustedTokenRealms: stringListTable("registry.trusted_token_realms", reg.trusted_token_realms),
    concurrency: reg.concurrency === undefined ? 4 : integer("registry.concurrency", fileValueString(reg.concurrency) ?? "", 1, 64),
  };
  const logLevel = pick(flags.logLevel, "WALK_LOG_LEVEL", fromFile.log_level, "info");
  return { dataDir, runtimeDir, socketPath, socketGroup, tcp, registry, logLevel, ...machinesAndNetwork(fromFile), activator: parseActivatorConfig(fromFile.activator) };
}

/** The jailer opens the tap in its --netns: unless set, that is walk's network.netns, where the taps are made. */
function machinesAndNetwork(fromFile: Record<string, unknown>): Pick<DaemonConfig, "machines" | "network"> {
  const network = parseNetConfig(fromFile.network);
  const machines = machinesConfig(fromFile);
  const jailer = machines.backends.firecracker.jailer;
  if (jailer && jailer.netns === undefined && network.netns !== undefined) jailer.netns = `/var/run/netns/${network.netns}`;
  return { machines, network };
}

function machinesConfig(fromFile: Record<string, unknown>): MachinesDaemonConfig {
  const table = (name: string): Record<string, unknown> => {
    const t = fromFile[name] ?? {};
    if (typeof t !== "object" || t === null || Array.isArray(t)) throw new WalkError("invalid_argument", `[${name}] in the config file must be a table`);
    return t as Record<string, unknown>;
  };
  const m = table("machines");
  const fc = table("firecracker");
  const qemu = table("qemu");
  const choice = <T extends string>(what: string, v: unknown, allowed: readonly T[], fallback: T): T => {
    if (v === undefined) return fallback;
    if (typeof v !== "string" || !allowed.includes(v as T)) throw new WalkError("invalid_argument", `${what} must be one of ${allowed.join(", ")}, got ${JSON.stringify(v)}`);
    return v as T;
  };
  const int = (what: string, v: unknown, min: number, max: number, fallback: number): number => (v === undefined ? fallback : integer(what, fileValueString(v) ?? "", min, max));
  const hint = "set `binary` (and `jailer`, if used) under [firecracker] in the walkd config file";
  let jailer: BackendConfig["firecracker"]["jailer"];
  if (fc.jailer !== undefined) {
    jailer = {
      jailerPath: absolute("firecracker.jailer", typeof fc.jailer === "string" ? fc.jailer : ""),
      uid: int("firecracker.uid", fc.uid, 0, 2 ** 31, 65534),
      gid: int("firecracker.gid", fc.gid, 0, 2 ** 31, 65534),
      chrootBaseDir: absolute("firecracker.chroot_base_dir", typeof fc.chroot_base_dir === "string" ? fc.chroot_base_dir : "/srv/jailer"),
      cgroupVersion: int("firecracker.cgroup_version", fc.cgroup_version, 1, 2, 2) as 1 | 2,
      cgroups: stringList("firecracker.cgroups", fc.cgroups),
      resourceLimits: stringList("firecracker.resource_limits", fc.resource_limits),
      ...(fc.netns !== undefined ? { netns: absolute("firecracker.netns", typeof fc.netns === "string" ? fc.netns : "") } : {}),
    };
  }
  return {
    backends: {
      backend: choice("machines.backend", m.backend, ["auto", "qemu", "firecracker"] as const, "auto"),
      firecracker: { binary: absolute("firecracker.binary", typeof fc.binary === "string" ? fc.binary : "/usr/local/bin/firecracker"), configHint: hint, ...(jailer ? { jailer } : {}) },
      qemu: {
        binary: absolute("qemu.binary", typeof qemu.binary === "string" ? qemu.binary : "/usr/bin/qemu-system-x86_64"),
        accel: choice("qemu.accel", qemu.accel, ["auto", "kvm", "tcg"] as const, "auto"),
        configHint: "or set `binary` under [qemu] in the walkd config file",
      },
    },
    backoff: {
      initialMs: int("machines.restart_backoff_initial_ms", m.restart_backoff_initial_ms, 1, 3_600_000, DEFAULT_BACKOFF.initialMs),
      maxMs: int("machines.restart_backoff_max_ms", m.restart_backoff_max_ms, 1, 86_400_000, DEFAULT_BACKOFF.maxMs),
      resetAfterMs: int("machines.restart_backoff_reset_ms", m.restart_backoff_reset_ms, 1, 86_400_000, DEFAULT_BACKOFF.resetAfterMs),
    },
    consoleMaxBytes: int("machines.console_max_bytes", m.console_max_bytes, 4096, 2 ** 40, DEFAULT_MACHINES_CONFIG.consoleMaxBytes),
    stopTimeoutMs: int("machines.stop_timeout", m.stop_timeout, 0, 3600, DEFAULT_MACHINES_CONFIG.stopTimeoutMs / 1000) * 1000,
    pollMs: int("machines.poll_ms", m.poll_ms, 10, 10_000, DEFAULT_MACHINES_CONFIG.pollMs),
    refreshTimeoutMs: int("machines.refresh_timeout_ms", m.refresh_timeout_ms, 100, 60_000, DEFAULT_MACHINES_CONFIG.refreshTimeoutMs),
    defaultNetwork: choice("machines.network", m.network, NETWORK_MODES, "default"),
  };
}

function readConfigFile(path: string, required: boolean): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new WalkError("invalid_argument", `cannot read the config file ${path}: ${(err as Error).message}`);
  }
  try {
    return parseToml(text);
  } catch (err) {
    throw new WalkError("invalid_argument", `the config file ${path} is not valid TOML: ${(err as Error).message}`);
  }
}

function fileValueString(v: unknown): string | undefined {
  return typeof v === "string" || typeof v === "number" ? String(v) : undefined;
}

function absolute(what: string, p: string): string {
  if (!isAbsolute(p)) throw new WalkError("invalid_argument", `the ${what} must be an absolute path, got ${JSON.stringify(p)}`);
  return p;
}

function integer(what: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new WalkError("invalid_argument", `${what} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return n;
}

function bool(what: string, v: unknown): boolean {
  if (typeof v !== "boolean") throw new WalkError("invalid_argument", `${what} must be true or false`);
  return v;
}

function stringListTable(what: string, v: unknown): Record<string, string[]> {
  if (v === undefined) return {};
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new WalkError("invalid_argument", `${what} must be a table of host = [hosts]`);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, stringList(`${what}.${k}`, x)]));
}

function stringList(what: string, v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new WalkError("invalid_argument", `${what} must be a list of strings`);
  return v;
}
