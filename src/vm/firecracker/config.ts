// How a host runs Firecracker: the binary, the log level, and the optional jailer. Also the
// presence checks behind the "binary missing" error and `walk doctor`. Firecracker is not
// packaged anywhere walk can install it from; real hosts install its release tarball.
import { constants as fsConstants, promises as fs } from "node:fs";
import { WalkError } from "../../lib/index.js";
import type { LoggerBody } from "./requests.js";

export interface JailerConfig {
  /** Absolute path of the `jailer` binary from the same Firecracker release. */
  jailerPath: string;
  /** The unprivileged user and group Firecracker runs as inside the jail. */
  uid: number;
  gid: number;
  /** Where jails are built: `<chrootBaseDir>/<firecracker binary name>/<machine id>/root`. Default /srv/jailer. */
  chrootBaseDir: string;
  cgroupVersion: 1 | 2;
  /** `--cgroup <file>=<value>` settings, e.g. `cpuset.cpus=0-3`. */
  cgroups: string[];
  /** `--parent-cgroup`; the jailer's default is the binary's file name. */
  parentCgroup?: string;
  /** `--netns`: a network namespace handle path such as /var/run/netns/walk. */
  netns?: string;
  /** `--resource-limit <resource>=<value>`, e.g. `no-file=1024`. */
  resourceLimits: string[];
}

export interface FirecrackerConfig {
  /** Absolute path of the `firecracker` binary. */
  firecrackerPath: string;
  /** Where that path is configured, quoted in the "not found" error so the operator knows what to change. */
  configHint: string;
  /** Firecracker's own log level (PUT /logger). Default Warning. */
  logLevel?: LoggerBody["level"];
  jailer?: JailerConfig;
}

export const DEFAULT_CONFIG_HINT = "set `binary` (and `jailer`, if used) under [firecracker] in /etc/walk/walkd.toml";
export const DEFAULT_CHROOT_BASE_DIR = "/srv/jailer";
const RELEASES = "https://github.com/firecracker-microvm/firecracker/releases";

/** Throws `unavailable`, saying where walk looked and how to fix it, unless the binaries are executable files. */
export async function checkBinaries(config: FirecrackerConfig): Promise<void> {
  await checkExecutable("Firecracker binary", config.firecrackerPath, config.configHint);
  if (config.jailer) await checkExecutable("Firecracker jailer binary", config.jailer.jailerPath, config.configHint);
}

async function checkExecutable(what: string, path: string, hint: string): Promise<void> {
  const fix = `Install it from a Firecracker release tarball (${RELEASES}) and ${hint}.`;
  let st;
  try {
    st = await fs.stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new WalkError("unavailable", `${what} not found: walk looked at ${path} (${code}). ${fix}`, { cause: err, details: { path } });
  }
  if (!st.isFile()) throw new WalkError("unavailable", `${what} ${path} is not a regular file. ${fix}`, { details: { path } });
  try {
    await fs.access(path, fsConstants.X_OK);
  } catch (err) {
    throw new WalkError("unavailable", `${what} ${path} is not executable (chmod +x it). ${fix}`, { cause: err, details: { path } });
  }
}

export interface HostProblem {
  problem: string;
  fix: string;
}

/** Everything `walk doctor` should say about running Firecracker on this host; empty when all is well. */
export async function firecrackerHostProblems(config: FirecrackerConfig): Promise<HostProblem[]> {
  const problems: HostProblem[] = [];
  try {
    await checkBinaries(config);
  } catch (err) {
    problems.push({ problem: (err as Error).message, fix: `install Firecracker from ${RELEASES} and ${config.configHint}` });
  }
  try {
    await fs.access("/dev/kvm", fsConstants.R_OK | fsConstants.W_OK);
  } catch {
    problems.push({ problem: "/dev/kvm is missing or not read-write for walkd", fix: "enable virtualization (KVM) on the host and load the kvm_intel or kvm_amd module" });
  }
  if (await exists("/sys/module/kvm_pvm")) {
    // PVM (a KVM for nested, unprivileged guests) cannot run an ordinary guest kernel.
    problems.push({ problem: "KVM on this host is PVM (module kvm_pvm): Firecracker cannot boot an ordinary guest kernel here", fix: "use the QEMU backend on this host, or run walk on a host with kvm_intel or kvm_amd" });
  }
  return problems;
}

async function exists(path: string): Promise<boolean> {
  return fs.access(path).then(
    () => true,
    () => false,
  );
}
