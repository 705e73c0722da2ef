// Where walkd keeps things under its data and runtime dirs. Every path walk creates is derived
// here, so reconcile and garbage collection know exactly what is walk's.
import { join } from "node:path";

export interface DaemonPaths {
  dataDir: string;
  runtimeDir: string;
  database: string;
  /** Content store root: blobs/ and ingest/ (src/image/store). */
  content: string;
  /** Built app disks, <image-hex>-<config-id>-app.ext4, and their per-image bases. */
  disks: string;
  /** Guest bases: base/<version>/… (src/base). */
  base: string;
}

export function daemonPaths(dataDir: string, runtimeDir: string): DaemonPaths {
  return {
    dataDir,
    runtimeDir,
    database: join(dataDir, "walk.db"),
    content: join(dataDir, "content"),
    disks: join(dataDir, "disks"),
    base: join(dataDir, "base"),
  };
}
