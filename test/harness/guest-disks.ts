// Test fixture for guest boots: app disks (vdb) with busybox-static and /walk/argv + /walk/env,
// and empty state disks (vdc), made with mkfs.ext4 -d from a staging dir of trusted test content.
// Stands in for the real app-disk builder in the boot tests of walk-init; the contract files are
// encoded by the host's own encoder unless a test needs deliberately broken bytes.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile, copyFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { encodeRuntimeConfig, type RuntimeConfig } from "../../src/image/runconfig.js";
import { execChecked } from "../../src/lib/exec.js";

export interface AppDiskSpec {
  /** Encoded with the host encoder; ignored for a file given in `raw`. */
  config?: RuntimeConfig;
  /** Exact bytes of /walk/argv or /walk/env; null leaves the file out. */
  raw?: { argv?: Buffer | null; env?: Buffer | null };
  /** Extra files: path inside the image -> content and mode. */
  files?: Record<string, { content: string; mode?: number }>;
}

export const PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n";
export const GROUP = "root:x:0:\nstaff:x:50:app\naudio:x:29:app,other\napp:x:1000:\n";

const applets = execFileSync("/bin/busybox", ["--list"], { encoding: "utf8" }).split("\n").filter((a) => /^[a-z0-9_.[-]+$/.test(a));

export function b(s: string): Buffer {
  return Buffer.from(s, "utf8");
}

export async function makeAppDisk(path: string, spec: AppDiskSpec): Promise<void> {
  const stage = await mkdtemp(join(tmpdir(), "walk-app-stage-"));
  try {
    await mkdir(join(stage, "bin"), { recursive: true });
    await copyFile("/bin/busybox", join(stage, "bin/busybox"));
    for (const a of applets) if (a !== "busybox") await symlink("busybox", join(stage, "bin", a));
    await mkdir(join(stage, "etc"));
    await writeFile(join(stage, "etc/passwd"), PASSWD);
    await writeFile(join(stage, "etc/group"), GROUP);
    await mkdir(join(stage, "home/app"), { recursive: true });
    await chmod(join(stage, "home/app"), 0o700);
    await execChecked("chown", ["1000:1000", join(stage, "home/app")]);
    await mkdir(join(stage, "walk"));
    const enc = spec.config ? encodeRuntimeConfig(spec.config) : undefined;
    for (const name of ["argv", "env"] as const) {
      const raw = spec.raw?.[name];
      const bytes = raw === undefined ? enc?.[name] : raw;
      if (bytes) await writeFile(join(stage, "walk", name), bytes);
    }
    for (const [p, f] of Object.entries(spec.files ?? {})) {
      const dst = join(stage, p);
      await mkdir(dirname(dst), { recursive: true });
      await writeFile(dst, f.content, { mode: f.mode ?? 0o644 });
      await chmod(dst, f.mode ?? 0o644);
    }
    await execChecked("mkfs.ext4", ["-q", "-F", "-L", "app", "-d", stage, path, "16M"]);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

export async function makeStateDisk(path: string): Promise<void> {
  await execChecked("mkfs.ext4", ["-q", "-F", "-L", "state", path, "16M"]);
}

export function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}
