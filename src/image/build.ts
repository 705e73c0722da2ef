// Public surface of the app disk builder: turn an image's layers and runtime config into
// `<outDir>/<image-digest-hex>-<config-id>-app.ext4`, immutable once published. The same image and
// config is a lookup; a new config on an image already built clones its base disk and patches
// /walk/argv and /walk/env; only a new image reads its layers. It takes layers abstractly (an
// opener per blob) and knows nothing about the content store, registries or the database.
import { promises as fs } from "node:fs";
import { WalkError } from "../lib/errors.js";
import type { Logger } from "../lib/log.js";
import type { ImageConfig } from "../oci/types.js";
import { buildBaseDisk, findBaseDisk } from "./build/base.js";
import { deriveAppDisk, linkAppDisk } from "./build/derive.js";
import { appDiskPath, basePaths } from "./build/names.js";
import { DEFAULT_FLATTEN_LIMITS, throwIfCanceled, type FlattenLimits, type FlattenProgress, type LayerInput } from "./flatten/index.js";
import { configIdOf, encodeRuntimeConfig, resolveRuntimeConfig, type RunOverrides } from "./runconfig.js";

export { appDiskPath, basePaths, listAppDisks, BASE_DIR, type AppDiskFile } from "./build/names.js";
export type { LayerInput } from "./flatten/index.js";

export interface BuildLimits extends FlattenLimits {
  /** The largest disk a build may produce, in bytes. */
  maxDiskBytes: number;
}

export const DEFAULT_BUILD_LIMITS: Readonly<BuildLimits> = Object.freeze({ ...DEFAULT_FLATTEN_LIMITS, maxDiskBytes: 80 * 2 ** 30 });

/** "flatten": layers streaming in; "write": the base disk's metadata, sync and publish; "derive": cloning the base for a new config. */
export type BuildProgress = ({ phase: "flatten" } & FlattenProgress) | { phase: "write" } | { phase: "derive" };

export interface BuildAppDiskRequest {
  /** The image's layers, lowest first, matching config.rootfs.diff_ids one to one. */
  layers: readonly LayerInput[];
  /** The image manifest's digest, "sha256:<hex>". */
  imageDigest: string;
  /** The image config blob, parsed. */
  config: ImageConfig;
  overrides?: RunOverrides;
  limits?: Partial<BuildLimits>;
  /** The data dir app disks are published into. */
  outDir: string;
  logger?: Logger;
  onProgress?: (p: BuildProgress) => void;
  signal?: AbortSignal;
}

export interface AppDisk {
  path: string;
  configId: string;
  imageDigest: string;
  sizeBytes: number;
  /** "disk": it existed; "base": cloned from the image's base disk; "none": the layers were read. */
  reused: "disk" | "base" | "none";
}

async function sizeIfFile(path: string): Promise<number | undefined> {
  try {
    const st = await fs.lstat(path);
    return st.isFile() ? st.size : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

function checkLayersMatchConfig(layers: readonly LayerInput[], config: ImageConfig): void {
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== layers.length || layers.some((l, i) => l.diffId !== diffIds[i])) {
    throw new WalkError("invalid_argument", `the image has ${layers.length} layers but its config lists ${diffIds.length} diff_ids, or they differ`);
  }
}

/** Finds or builds the app disk for an image and runtime config. */
export async function buildAppDisk(req: BuildAppDiskRequest): Promise<AppDisk> {
  const encoded = encodeRuntimeConfig(resolveRuntimeConfig(req.config.config, req.overrides));
  const configId = configIdOf(encoded);
  const path = appDiskPath(req.outDir, req.imageDigest, configId);
  const done = async (reused: AppDisk["reused"]): Promise<AppDisk> => {
    const sizeBytes = await sizeIfFile(path);
    if (sizeBytes === undefined) throw new WalkError("internal", `app disk ${path} vanished right after it was published`);
    return { path, configId, imageDigest: req.imageDigest, sizeBytes, reused };
  };
  if ((await sizeIfFile(path)) !== undefined) return done("disk");

  checkLayersMatchConfig(req.layers, req.config);
  const base = basePaths(req.outDir, req.imageDigest);
  const map = await findBaseDisk(base);
  if (map === undefined) {
    req.logger?.info({ image: req.imageDigest, layers: req.layers.length }, "building base disk");
    await buildBaseDisk({
      layers: req.layers,
      imageDigest: req.imageDigest,
      encoded,
      paths: base,
      limits: { ...DEFAULT_BUILD_LIMITS, ...req.limits },
      ...(req.logger ? { logger: req.logger } : {}),
      ...(req.onProgress ? { onFlattenProgress: (p: FlattenProgress) => req.onProgress?.({ phase: "flatten", ...p }), onWrite: () => req.onProgress?.({ phase: "write" }) } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
    });
    // The base disk was built with this very config: it is the app disk.
    await linkAppDisk(base.disk, path);
    req.logger?.info({ image: req.imageDigest, configId }, "app disk published");
    return done("none");
  }
  throwIfCanceled(req.signal);
  req.onProgress?.({ phase: "derive" });
  await deriveAppDisk(base.disk, map, encoded, path);
  req.logger?.info({ image: req.imageDigest, configId, reused: "base" }, "app disk published");
  return done("base");
}
