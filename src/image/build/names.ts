// The file names of app disks and their base disks in the data dir. Pure functions: the names are
// the lookup keys, so the same image and config always land on the same file.
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
