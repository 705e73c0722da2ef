// Deriving an app disk from a base disk: clone it (a reflink where the filesystem can, an
// in-kernel copy otherwise), rewrite /walk/argv and /walk/env in place through the patch map, and
// publish it atomically. Never reads a layer.
import { constants as fsConstants, promises as fs } from "node:fs";
import { publishFile, tempPathFor } from "../../lib/atomic.js";
import { patchReservedFile, type PatchMap } from "../ext4/index.js";
import type { EncodedRuntimeConfig } from "../runconfig.js";

export const ARGV_FILE = "walk/argv";
export const ENV_FILE = "walk/env";

/** Writes the app disk `finalPath` as a patched copy of `baseDisk`; on failure nothing is left. */
export async function deriveAppDisk(baseDisk: string, map: PatchMap, encoded: EncodedRuntimeConfig, finalPath: string): Promise<void> {
  const tmp = tempPathFor(finalPath);
  try {
    await fs.copyFile(baseDisk, tmp, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
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
