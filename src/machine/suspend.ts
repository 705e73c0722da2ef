// Where a suspended machine's snapshot lives (its data dir, beside the state disk) and the two
// file operations on it. A snapshot is single-use: it matches the disks only until the machine
// runs again, so any start (restore or boot) consumes or discards it. Owns no VM operation.
import { promises as fs } from "node:fs";
import { join } from "node:path";
import type { SnapshotFiles } from "../vm/index.js";
import type { MachinePaths } from "./paths.js";

export function snapshotFiles(paths: MachinePaths): SnapshotFiles {
  return { statePath: join(paths.dataDir, "snapshot.json"), memoryPath: join(paths.dataDir, "snapshot.mem") };
}

export async function hasSnapshot(files: SnapshotFiles): Promise<boolean> {
  const ok = async (p: string): Promise<boolean> => fs.stat(p).then((s) => s.isFile(), () => false);
  return (await ok(files.statePath)) && (await ok(files.memoryPath));
}

export async function removeSnapshot(files: SnapshotFiles): Promise<void> {
  await Promise.all([fs.rm(files.statePath, { force: true }), fs.rm(files.memoryPath, { force: true })]);
}
