// Atomic publication of files: write to a temp name in the same directory, fsync, rename, fsync the
// directory. A reader sees either no file or the whole file, never a prefix.
import { promises as fs, constants as fsConstants } from "node:fs";
import { dirname, basename, join } from "node:path";
import { newId } from "./ids.js";

/** Prefix of every temp file walk creates; reconcile removes leftovers with it. */
export const TEMP_PREFIX = ".walk-tmp-";

export function tempPathFor(finalPath: string): string {
  return join(dirname(finalPath), `${TEMP_PREFIX}${newId()}-${basename(finalPath)}`);
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Renames an already-written, already-synced temp file into place and makes the rename durable. */
export async function publishFile(tempPath: string, finalPath: string): Promise<void> {
  await fs.rename(tempPath, finalPath);
  await fsyncDir(dirname(finalPath));
}

/** Writes `data` to `finalPath` atomically. */
export async function writeFileAtomic(finalPath: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = tempPathFor(finalPath);
  const fh = await fs.open(tmp, "wx", mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await publishFile(tmp, finalPath);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}
