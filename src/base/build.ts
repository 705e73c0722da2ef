// `walk base build`: checks the Debian build packages (installing them with apt when asked),
// runs guest/build-all.sh (kernel, init and rootfs, each cached by content) and installs the
// result as a base. Owns running the build; the layout of installed bases is store.ts's.
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { WalkError } from "../lib/errors.js";
import { execFile } from "../lib/exec.js";
import { installBase, type BaseEntry } from "./store.js";

/** Debian packages `walk base build` needs (the kernel from linux-source-6.1, the init from musl). */
export const BUILD_PACKAGES = [
  "linux-source-6.1",
  "build-essential",
  "flex",
  "bison",
  "bc",
  "libelf-dev",
  "libssl-dev",
  "musl-tools",
  "e2fsprogs",
  "xz-utils",
] as const;

export interface BuildOptions {
  /** The guest/ directory holding build-all.sh; defaults to the one shipped with walk. */
  guestDir?: string;
  /** Kernel/init/rootfs cache (WALK_CACHE_DIR); default /var/cache/walk. */
  cacheDir?: string;
  /** Install missing Debian packages with apt-get instead of failing. */
  installPackages?: boolean;
  makeDefault?: boolean;
  /** Receives each progress line of the build. */
  onProgress?: (line: string) => void;
  timeoutMs?: number;
}

export function defaultGuestDir(): string {
  return fileURLToPath(new URL("../../../guest/", import.meta.url));
}

/** The build packages not installed on this host. */
export async function missingBuildPackages(): Promise<string[]> {
  const r = await execFile("dpkg-query", ["-W", "-f", "${Package} ${db:Status-Status}\\n", ...BUILD_PACKAGES]);
  const installed = new Set(
    r.stdout
      .split("\n")
      .filter((l) => l.endsWith(" installed"))
      .map((l) => l.split(" ")[0]),
  );
  return BUILD_PACKAGES.filter((p) => !installed.has(p));
}

async function aptInstall(pkgs: string[], onProgress?: (line: string) => void): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update"], ["install", "-y", "--no-install-recommends", ...pkgs]]) {
    onProgress?.(`apt-get ${args.join(" ")}`);
    const r = await execFile("apt-get", args, { env, timeoutMs: 30 * 60_000 });
    if (r.code !== 0) throw new WalkError("unavailable", `apt-get ${args[0]} failed: ${r.stderr.trim().slice(-2000)}`);
  }
}

/** Runs a script, streaming its stderr lines to onProgress; resolves with its stdout. */
export function runStreaming(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, onProgress?: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let tail: string[] = [];
    let partial = "";
    child.stdout.on("data", (c: Buffer) => {
      if (stdout.length < 1 << 16) stdout += c.toString("utf8");
    });
    child.stderr.on("data", (c: Buffer) => {
      const lines = (partial + c.toString("utf8")).split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) {
        onProgress?.(l);
        tail = [...tail.slice(-39), l];
      }
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new WalkError("unavailable", `cannot run ${cmd}: ${e.message}`, { cause: e }));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new WalkError("internal", `${args[0] ?? cmd} ${signal ? `was killed by ${signal}` : `exited with ${code}`}:\n${tail.join("\n")}`));
    });
  });
}

/** Parses build-all.sh's OUTDIR/build-info (key=value lines). */
export async function readBuildInfo(outDir: string): Promise<Record<string, string>> {
  const info: Record<string, string> = {};
  for (const line of (await readFile(join(outDir, "build-info"), "utf8")).split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) info[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return info;
}

export function buildEnv(cacheDir?: string): NodeJS.ProcessEnv {
  return cacheDir === undefined ? process.env : { ...process.env, WALK_CACHE_DIR: cacheDir };
}

/** Builds (or reuses from the cache) kernel, init and rootfs, and installs them as a base. */
export async function buildBase(dataDir: string, opts: BuildOptions = {}): Promise<BaseEntry> {
  const missing = await missingBuildPackages();
  if (missing.length > 0) {
    if (!opts.installPackages) {
      throw new WalkError("unavailable", `missing Debian packages for the guest build: ${missing.join(" ")} (install them with \`apt-get install ${missing.join(" ")}\`, or let walk do it)`, { details: { missing } });
    }
    await aptInstall(missing, opts.onProgress);
  }
  const out = await mkdtemp(join(tmpdir(), "walk-base-build-"));
  try {
    const script = join(opts.guestDir ?? defaultGuestDir(), "build-all.sh");
    await runStreaming("bash", [script, out], buildEnv(opts.cacheDir), opts.timeoutMs ?? 60 * 60_000, opts.onProgress);
    const info = await readBuildInfo(out);
    const source = info.kernel_source;
    if (!source) throw new WalkError("internal", "build-all.sh did not report the kernel source version");
    return await installBase(dataDir, {
      files: { vmlinux: join(out, "vmlinux"), bzImage: join(out, "bzImage"), "rootfs.ext4": join(out, "rootfs.ext4") },
      origin: "build",
      kernelSource: source,
      configSha256: info.config_sha256 ?? null,
      label: source.split(" ").pop() ?? "build",
      makeDefault: opts.makeDefault,
    });
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}
