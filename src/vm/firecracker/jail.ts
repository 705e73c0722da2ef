// The jailer: its command line (docs/jailer.md) and the jail's contents. walk builds the chroot
// before starting the jailer (which leaves an existing chroot dir as it is) by hard-linking the
// kernel, the drives and any snapshot into it, and removes the whole jail when the VM is gone.
// Must not follow symlinks anywhere inside a jail: Firecracker could write there.
import { promises as fs } from "node:fs";
import { dirname, join } from "node:path";
import { WalkError } from "../../lib/index.js";
import type { MachineSpec, SnapshotFiles } from "../types.js";
import type { JailerConfig } from "./config.js";
import { JAIL_PATHS, type FirecrackerLayout } from "./layout.js";

/**
 * `jailer` arguments. No `--daemonize`: it would send the serial console to /dev/null and its
 * setsid() fails in a process walk already started in its own session. No `--new-pid-ns`: the
 * jailer then forks, and walk wants the pid it spawned to be Firecracker's (the jailer execs it).
 */
export function jailerArgs(jailer: JailerConfig, firecrackerPath: string, id: string, apiSocketInJail: string): string[] {
  const args = ["--id", id, "--exec-file", firecrackerPath, "--uid", String(jailer.uid), "--gid", String(jailer.gid)];
  args.push("--chroot-base-dir", jailer.chrootBaseDir, "--cgroup-version", String(jailer.cgroupVersion));
  for (const c of jailer.cgroups) args.push("--cgroup", c);
  if (jailer.parentCgroup !== undefined) args.push("--parent-cgroup", jailer.parentCgroup);
  if (jailer.netns !== undefined) args.push("--netns", jailer.netns);
  for (const r of jailer.resourceLimits) args.push("--resource-limit", r);
  // After `--`, Firecracker's own flags; the jailer adds `--id` itself.
  args.push("--", "--api-sock", apiSocketInJail);
  return args;
}

/** Builds the chroot: empty dirs owned by the jail user, hard links to the kernel, drives and snapshot. */
export async function prepareJail(layout: FirecrackerLayout, spec: MachineSpec, jailer: JailerConfig, restore?: SnapshotFiles): Promise<void> {
  const jail = layout.jail!;
  await removeJail(layout);
  await fs.mkdir(jail.chroot, { recursive: true, mode: 0o755 });
  for (const dir of ["run", "drives", "snapshot"]) {
    const p = join(jail.chroot, dir);
    await fs.mkdir(p, { mode: 0o750 });
    await fs.chown(p, jailer.uid, jailer.gid);
  }
  await hardLink(spec.kernelPath, layout.kernel.host, jail.chroot);
  for (const d of spec.drives) {
    const target = layout.drives.get(d.id)!.host;
    await hardLink(d.path, target, jail.chroot);
    // A hard link shares the inode: this makes the real state disk writable by the jail user.
    if (!d.readOnly) await fs.chown(target, jailer.uid, jailer.gid);
  }
  if (restore) {
    await hardLink(restore.statePath, join(jail.chroot, JAIL_PATHS.snapshotState), jail.chroot);
    await hardLink(restore.memoryPath, join(jail.chroot, JAIL_PATHS.snapshotMemory), jail.chroot);
  }
}

/** Gives a file made by walk (log, metrics) to the jail user. */
export async function chownToJail(path: string, jailer: JailerConfig): Promise<void> {
  await fs.chown(path, jailer.uid, jailer.gid);
}

/** Moves a snapshot file Firecracker wrote inside the jail to where the caller wants it. */
export async function exportFromJail(inJail: string, dest: string): Promise<void> {
  const st = await fs.lstat(inJail);
  if (!st.isFile()) throw new WalkError("internal", `the snapshot file ${inJail} in the jail is not a regular file`);
  await fs.mkdir(dirname(dest), { recursive: true });
  await fs.rm(dest, { force: true });
  try {
    await fs.link(inJail, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    await fs.copyFile(inJail, dest);
  }
}

/** Removes `<chroot base>/<binary>/<id>` and everything in it, without following symlinks. */
export async function removeJail(layout: FirecrackerLayout): Promise<void> {
  if (layout.jail) await fs.rm(layout.jail.root, { recursive: true, force: true });
}

async function hardLink(src: string, dest: string, chroot: string): Promise<void> {
  try {
    // link(2) does not follow a symlink; inside the jail a symlink to a host path would dangle.
    await fs.link(await fs.realpath(src), dest);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EXDEV") {
      throw new WalkError(
        "unavailable",
        `cannot hard-link ${src} into the jail ${chroot}: they are on different filesystems. Put the jailer's chroot base dir on the filesystem of walk's data dir (a copy would double the disk use and detach the writable state disk from the machine)`,
        { cause: err },
      );
    }
    if (code === "ENOENT") throw new WalkError("not_found", `cannot put ${src} into the jail ${chroot}: it does not exist`, { cause: err });
    throw err;
  }
}
