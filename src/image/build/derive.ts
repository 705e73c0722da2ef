// Deriving an app disk from a base disk: clone it (a reflink where the filesystem can, a
// hole-preserving copy otherwise), rewrite /walk/argv and /walk/env in place through the patch map, and
// publish it atomically. Never reads a layer.
import { promises as fs } from "node:fs";
import { dirname } from "node:path";
import { fsyncDir, publishFile, tempPathFor } from "../../lib/atomic.js";
import { execChecked } from "../../lib/exec.js";
import { patchReservedFile, type PatchMap } from "../ext4/index.js";
import type { EncodedRuntimeConfig } from "../runconfig.js";

export const ARGV_FILE = "walk/argv";
export const ENV_FILE = "walk/env";

/**
 * Publishes `baseDisk` itself as the app disk `finalPath` (a second name of the same immutable
 * file), for the config the base disk was built with: nothing is copied. Both names are
 * read-only for good, so sharing the inode is safe, and either may be removed on its own.
 */
export async function linkAppDisk(baseDisk: string, finalPath: string): Promise<void> {
  try {
    await fs.link(baseDisk, finalPath);
  } catch (err) {
    // A concurrent build of the same image and config got there first: same bytes, same name.
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  await fsyncDir(dirname(finalPath));
}

/** Writes the app disk `finalPath` as a patched copy of `baseDisk`; on failure nothing is left. */
export async function deriveAppDisk(baseDisk: string, map: PatchMap, encoded: EncodedRuntimeConfig, finalPath: string): Promise<void> {
  const tmp = tempPathFor(finalPath);
  try {
    // cp, not fs.copyFile: where a reflink is impossible (ext4), libuv's fallback copy writes the
    // base disk's holes out as zeros; cp keeps them (SEEK_HOLE), so a clone costs its data only.
    await execChecked("cp", ["--reflink=auto", "--sparse=auto", "--no-preserve=all", "--", baseDisk, tmp]);
    const fh = await fs.open(tmp, "r+");
    try {
      await patchReservedFile(fh, map, ARGV_FILE, encoded.argv);
      await patchReservedFile(fh, map, ENV_FILE, encoded.env);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await publishFile(tmp, finalPath);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}
