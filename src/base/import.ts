// `walk base import --kernel PATH [--rootfs PATH] [--firecracker PATH]`: brings the operator's own
// artifacts (a walk.io-base release, a distro kernel). Each file is checked for what it claims to
// be before it is copied; without --rootfs the base rootfs is built from walk's own init.
// Owns checking the inputs; copying and the layout are store.ts's.
import { open, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WalkError } from "../lib/errors.js";
import { execFile } from "../lib/exec.js";
import { buildEnv, defaultGuestDir, runStreaming } from "./build.js";
import { installBase, type BaseEntry } from "./store.js";

export interface ImportInput {
  kernel: string;
  rootfs?: string;
  firecracker?: string;
  makeDefault?: boolean;
}

export interface ImportOptions {
  guestDir?: string;
  cacheDir?: string;
  onProgress?: (line: string) => void;
}

const MAX_KERNEL = 512 << 20;
const MAX_ROOTFS = 4 * 1024 ** 3;
const MAX_FIRECRACKER = 256 << 20;

async function head(path: string, what: string, max: number, n: number): Promise<Buffer> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch (e) {
    throw new WalkError("not_found", `${what} ${path} cannot be opened: ${(e as Error).message}`, { cause: e });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new WalkError("invalid_argument", `${what} ${path} is not a regular file`);
    if (st.size > max) throw new WalkError("size_exceeded", `${what} ${path} is ${st.size} bytes; the limit is ${max}`);
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function isElfX86_64(b: Buffer): boolean {
  return b.length >= 20 && b.readUInt32BE(0) === 0x7f454c46 && b[4] === 2 && b.readUInt16LE(18) === 62;
}

/** "vmlinux" for an x86_64 ELF kernel, "bzImage" for a Linux boot-protocol image. */
export async function kernelKind(path: string): Promise<"vmlinux" | "bzImage"> {
  const b = await head(path, "kernel", MAX_KERNEL, 0x206);
  if (isElfX86_64(b)) return "vmlinux";
  if (b.length >= 0x206 && b.toString("latin1", 0x202, 0x206) === "HdrS") return "bzImage";
  throw new WalkError("invalid_argument", `kernel ${path} is neither an x86_64 ELF vmlinux nor a bzImage`);
}

/** Checks that a rootfs is ext4 and holds walk's init at /sbin/walk-init (read with debugfs, never mounted). */
export async function checkRootfs(path: string): Promise<void> {
  const b = await head(path, "rootfs", MAX_ROOTFS, 2048);
  if (b.length < 1082 || b.readUInt16LE(1080) !== 0xef53) throw new WalkError("invalid_argument", `rootfs ${path} is not an ext4 filesystem`);
  const r = await execFile("debugfs", ["-R", "stat /sbin/walk-init", path], { timeoutMs: 30_000 });
  if (r.code !== 0 || !/Type: regular/.test(r.stdout)) {
    throw new WalkError("invalid_argument", `rootfs ${path} has no regular file /sbin/walk-init (walk's init)`);
  }
}

export async function importBase(dataDir: string, input: ImportInput, opts: ImportOptions = {}): Promise<BaseEntry> {
  const kind = await kernelKind(input.kernel);
  if (input.firecracker !== undefined && !isElfX86_64(await head(input.firecracker, "firecracker", MAX_FIRECRACKER, 64))) {
    throw new WalkError("invalid_argument", `firecracker ${input.firecracker} is not an x86_64 ELF executable`);
  }
  let built: string | undefined;
  let rootfs = input.rootfs;
  try {
    if (rootfs === undefined) {
      built = await mkdtemp(join(tmpdir(), "walk-base-rootfs-"));
      const script = join(opts.guestDir ?? defaultGuestDir(), "build-all.sh");
      await runStreaming("bash", [script, "--rootfs-only", built], buildEnv(opts.cacheDir), 10 * 60_000, opts.onProgress);
      rootfs = join(built, "rootfs.ext4");
    }
    await checkRootfs(rootfs);
    return await installBase(dataDir, {
      files: { [kind]: input.kernel, "rootfs.ext4": rootfs, ...(input.firecracker !== undefined ? { firecracker: input.firecracker } : {}) },
      origin: "import",
      kernelSource: null,
      configSha256: null,
      label: "import",
      makeDefault: input.makeDefault,
    });
  } finally {
    if (built !== undefined) await rm(built, { recursive: true, force: true });
  }
}
