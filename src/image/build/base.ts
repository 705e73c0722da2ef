// Building the base disk of an image: every layer flattened straight into an ext4 builder, plus
// /walk with argv and env as reserved files that derive.ts can rewrite in a copy. Published
// atomically (patch map, then disk); on any error the temp disk is deleted and nothing is left.
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import { dirname } from "node:path";
import { WalkError } from "../../lib/errors.js";
import { publishFile, tempPathFor, writeFileAtomic } from "../../lib/atomic.js";
import type { Logger } from "../../lib/log.js";
import { Ext4Builder, PATCH_MAP_FORMAT, type PatchMap } from "../ext4/index.js";
import { flattenLayers, throwIfCanceled, type FlattenLimits, type FlattenProgress, type LayerInput } from "../flatten/index.js";
import { CONTRACT_MAX_FILE_BYTES, type EncodedRuntimeConfig } from "../runconfig.js";
import type { Node } from "../tree.js";

export interface BaseDiskRequest {
  layers: readonly LayerInput[];
  imageDigest: string;
  encoded: EncodedRuntimeConfig;
  paths: { disk: string; patchMap: string };
  limits: FlattenLimits & { maxDiskBytes: number };
  logger?: Logger;
  onFlattenProgress?: (p: FlattenProgress) => void;
  /** Called once the layers are flattened, before the disk's metadata is written and synced. */
  onWrite?: () => void;
  signal?: AbortSignal;
}

const MAX_PATCH_MAP_BYTES = 64 * 1024;

/** A stable volume UUID per image (random v4 layout, derived bits), so rebuilds are identical. */
function volumeUuid(imageDigest: string): Buffer {
  const b = createHash("sha256").update(`walk.io app disk ${imageDigest}`).digest().subarray(0, 16);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  return Buffer.from(b);
}

/** /walk belongs to walk: an image's own /walk directory keeps its other files but not its owner or mode. */
function claimWalkDir(root: Node, logger: Logger | undefined): void {
  const existing = root.children?.get("walk");
  if (existing === undefined) return;
  logger?.warn({ kind: existing.kind }, "the image has its own /walk; walk's /walk/argv and /walk/env take its place");
  if (existing.kind === "dir") Object.assign(existing, { mode: 0o755, uid: 0, gid: 0, xattrs: new Map() });
}

/** The patch map of a published base disk, or undefined if there is no complete base disk. */
export async function findBaseDisk(paths: { disk: string; patchMap: string }): Promise<PatchMap | undefined> {
  let text: Buffer;
  try {
    const st = await fs.stat(paths.patchMap);
    if (st.size > MAX_PATCH_MAP_BYTES) return undefined;
    text = await fs.readFile(paths.patchMap);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  let map: PatchMap;
  try {
    map = JSON.parse(text.toString("utf8")) as PatchMap;
  } catch {
    return undefined;
  }
  if (map.format !== PATCH_MAP_FORMAT) return undefined;
  const size = await fs.stat(paths.disk).then((s) => (s.isFile() ? s.size : -1), () => -1);
  return size === map.diskBytes ? map : undefined;
}

/** Flattens the layers into a new base disk and publishes it; returns its patch map. */
export async function buildBaseDisk(req: BaseDiskRequest): Promise<PatchMap> {
  await fs.mkdir(dirname(req.paths.disk), { recursive: true, mode: 0o700 });
  const tmp = tempPathFor(req.paths.disk);
  const builder = await Ext4Builder.create(tmp, { maxBytes: req.limits.maxDiskBytes, label: "walk-app", uuid: volumeUuid(req.imageDigest) });
  let mapWritten = false;
  try {
    const root = await flattenLayers(req.layers, builder, {
      limits: req.limits,
      ...(req.logger ? { logger: req.logger } : {}),
      ...(req.onFlattenProgress ? { onProgress: req.onFlattenProgress } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
    });
    throwIfCanceled(req.signal);
    req.onWrite?.();
    claimWalkDir(root, req.logger);
    const result = await builder.finish(root, {
      reserved: [
        { path: ["walk", "argv"], capacity: CONTRACT_MAX_FILE_BYTES, content: req.encoded.argv },
        { path: ["walk", "env"], capacity: CONTRACT_MAX_FILE_BYTES, content: req.encoded.env },
      ],
    });
    const fh = await fs.open(tmp, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    const map = JSON.stringify(result.patchMap);
    if (map.length > MAX_PATCH_MAP_BYTES) throw new WalkError("internal", "the base disk's patch map is unexpectedly large");
    await writeFileAtomic(req.paths.patchMap, map, 0o600);
    mapWritten = true;
    await publishFile(tmp, req.paths.disk);
    return result.patchMap;
  } catch (err) {
    await builder.abort();
    await fs.rm(tmp, { force: true });
    if (mapWritten) await fs.rm(req.paths.patchMap, { force: true });
    throw err;
  }
}
