// The file names of app disks and their base disks in the data dir. Pure functions: the names are
// the lookup keys, so the same image and config always land on the same file.
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { WalkError } from "../../lib/errors.js";
import { APP_DISK_FORMAT_VERSION } from "../runconfig.js";

/** Where base disks (the flattened image with some runtime config) are kept, below the data dir. */
export const BASE_DIR = ".base";

export function digestHex(imageDigest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(imageDigest);
  if (!m?.[1]) throw new WalkError("invalid_argument", `image digest ${JSON.stringify(imageDigest)} is not sha256:<64 hex digits>`);
  return m[1];
}

/** `<outDir>/<image-digest-hex>-<config-id>-app.ext4`, the published app disk. */
export function appDiskPath(outDir: string, imageDigest: string, configId: string): string {
  return join(outDir, `${digestHex(imageDigest)}-${configId}-app.ext4`);
}

/** The base disk of an image and the patch map that says where its /walk files are. */
export function basePaths(outDir: string, imageDigest: string): { disk: string; patchMap: string } {
  const stem = join(outDir, BASE_DIR, `${digestHex(imageDigest)}-v${APP_DISK_FORMAT_VERSION}`);
  return { disk: `${stem}.ext4`, patchMap: `${stem}.patch.json` };
}

export interface AppDiskFile {
  path: string;
  imageDigest: string;
  configId: string;
  sizeBytes: number;
}

const APP_DISK_NAME = /^([0-9a-f]{64})-([0-9a-f]{16})-app\.ext4$/;

/** The published app disks in `outDir` (for `walk image ls` and prune); temp files are not listed. */
export async function listAppDisks(outDir: string): Promise<AppDiskFile[]> {
  let names: string[];
  try {
    names = await fs.readdir(outDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const out: AppDiskFile[] = [];
  for (const name of names.sort()) {
    const m = APP_DISK_NAME.exec(name);
    if (!m?.[1] || !m[2]) continue;
    const path = join(outDir, name);
    const st = await fs.lstat(path).catch(() => undefined);
    if (st?.isFile()) out.push({ path, imageDigest: `sha256:${m[1]}`, configId: m[2], sizeBytes: st.size });
  }
  return out;
}
