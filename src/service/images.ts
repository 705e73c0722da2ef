// The image service: pulls images into the content store and records them in SQLite, answers
// list/inspect, removes images and prunes what nothing references, and reconciles the database
// with the blob files at startup. The only place that combines src/oci, src/image and src/store
// for images.
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { RwLock, WalkError, type Logger } from "../lib/index.js";
import { formatReference, parseReference, type ImageReference } from "../oci/reference.js";
import { hostPlatform, parsePlatform, formatPlatform } from "../oci/platform.js";
import type { ImageConfig, Platform } from "../oci/types.js";
import { openSource, verifyRegistryLogin, type RegistryOptions } from "../oci/open.js";
import { BlobStore } from "../image/store/index.js";
import { pullImage } from "../image/pull.js";
import { buildAppDisk, basePaths, BASE_DIR, type BuildProgress } from "../image/build.js";
import { configIdOf, encodeRuntimeConfig, resolveRuntimeConfig, type RunOverrides } from "../image/runconfig.js";
import type { BlobRecord, ImageRecord, ImageRepository } from "../store/index.js";
import type { DaemonPaths } from "../daemon/paths.js";
import type { JobRecord } from "../store/index.js";
import type { AppDiskResultWire, BuildRequest, ImageDetailWire, ImageSummaryWire, LoginRequest, PruneResultWire, PullRequest, RemoveImageResultWire } from "../api/schemas.js";
import type { JobContext, JobService } from "./jobs.js";

export interface ImageServiceDeps {
  repo: ImageRepository;
  paths: DaemonPaths;
  registry: RegistryOptions & { concurrency: number };
  jobs: JobService;
  log: Logger;
}

/** How long an interrupted download is kept for resuming across daemon restarts. */
const PARTIAL_KEEP_MS = 7 * 24 * 3600 * 1000;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const DIGEST_PREFIX = /^(?:sha256:)?([0-9a-f]{4,64})$/;

export class ImageService {
  /**
   * Pulls and builds hold the shared side; prune holds it alone, so it never deletes a blob or a
   * temp file that a running pull or build is about to record.
   */
  private readonly storeLock = new RwLock();
  /** Builds in flight by app disk id, so concurrent requests for one disk share one build. */
  private readonly builds = new Map<string, Promise<AppDiskResultWire>>();

  private constructor(
    private readonly deps: ImageServiceDeps,
    readonly store: BlobStore,
  ) {}

  static async open(deps: ImageServiceDeps): Promise<ImageService> {
    await fs.mkdir(deps.paths.disks, { recursive: true, mode: 0o755 });
    return new ImageService(deps, await BlobStore.open(deps.paths.content));
  }

  /** Starts a pull job. The job's request record leaves the credentials out. */
  startPull(req: PullRequest): JobRecord {
    const ref = parseReference(req.reference);
    const platform = req.platform === undefined ? hostPlatform() : parsePlatform(req.platform);
    const recorded = { reference: formatReference(ref), platform: formatPlatform(platform) };
    return this.deps.jobs.start("pull", recorded, ({ emit, signal }) =>
      this.storeLock.shared(() => this.pull(ref, platform, req.auth, emit, signal)),
    );
  }

  private async pull(ref: ImageReference, platform: Platform, auth: PullRequest["auth"], emit: JobContext["emit"], signal: AbortSignal): Promise<{ digest: string; reference: string }> {
    const { repo, log, registry } = this.deps;
    const source = await openSource(ref, { ...registry, log, credentials: auth });
    try {
      const { image, blobs } = await pullImage({ source, platform, store: this.store, concurrency: registry.concurrency, signal, logger: log, onProgress: emit });
      const cfg = image.config.parsed;
      repo.saveImage(
        {
          digest: image.digest,
          indexDigest: image.indexDigest ?? null,
          name: nameOf(ref),
          os: cfg.os,
          architecture: cfg.architecture,
          variant: cfg.variant ?? null,
          configDigest: image.config.digest,
          size: image.config.bytes.length + image.layers.reduce((n, l) => n + l.size, 0),
          configJson: image.config.bytes.toString("utf8"),
        },
        blobs.map((b): BlobRecord => ({ digest: b.digest, size: b.size, mediaType: b.mediaType, role: b.kind })),
        tagOf(ref),
      );
      const reference = formatReference(ref);
      log.info({ reference, digest: image.digest }, "pulled image");
      return { digest: image.digest, reference };
    } finally {
      await source.close();
    }
  }

  /**
   * Starts a build job: finds or builds the app disk for a pulled image and runtime config, and
   * records it. Concurrent builds of the same disk share one.
   */
  startBuild(req: BuildRequest): JobRecord {
    const image = this.find(req.reference);
    const config = JSON.parse(image.configJson) as ImageConfig;
    const overrides = overridesOf(req);
    // Resolving here, before the job starts, makes a bad override a 400 rather than a failed job.
    const configId = configIdOf(encodeRuntimeConfig(resolveRuntimeConfig(config.config, overrides)));
    const id = `${image.digest.slice("sha256:".length)}-${configId}`;
    return this.deps.jobs.start("build", { reference: req.reference, image_digest: image.digest, config_id: configId }, async ({ emit, signal }) => {
      let build = this.builds.get(id);
      if (!build) {
        build = this.storeLock
          .shared(() => this.build(image, config, overrides, (p) => emit({ type: "build", ...p }), signal))
          .finally(() => this.builds.delete(id));
        this.builds.set(id, build);
      }
      return build;
    });
  }

  private async build(image: ImageRecord, config: ImageConfig, overrides: RunOverrides, onProgress: (p: BuildProgress) => void, signal: AbortSignal): Promise<AppDiskResultWire> {
    const { repo, paths, log } = this.deps;
    const layers = repo.layers(image.digest).map((l, i) => ({
      digest: l.digest,
      mediaType: l.mediaType,
      diffId: config.rootfs.diff_ids[i] ?? "",
      open: () => this.store.openRead(l.digest),
    }));
    const disk = await buildAppDisk({ layers, imageDigest: image.digest, config, overrides, outDir: paths.disks, logger: log, onProgress, signal });
    const id = `${image.digest.slice("sha256:".length)}-${disk.configId}`;
    const runtime = resolveRuntimeConfig(config.config, overrides);
    repo.saveAppDisk({
      id,
      imageDigest: image.digest,
      configId: disk.configId,
      runtime: JSON.stringify({
        argv: runtime.argv.map((a) => a.toString("utf8")),
        env: runtime.env.map(([k, v]) => `${k.toString("utf8")}=${v.toString("utf8")}`),
        workdir: runtime.workdir?.toString("utf8") ?? null,
        user: runtime.user?.toString("utf8") ?? null,
      }),
      path: disk.path,
      size: disk.sizeBytes,
    });
    return { id, path: disk.path, image_digest: image.digest, config_id: disk.configId, size: disk.sizeBytes, reused: disk.reused };
  }

  /** Checks credentials against a registry for `walk login`; they are used once and forgotten. */
  async verifyLogin(req: LoginRequest): Promise<void> {
    await verifyRegistryLogin(req.registry, { ...this.deps.registry, log: this.deps.log, credentials: req });
  }

  list(): ImageSummaryWire[] {
    return this.deps.repo.list().map((i) => this.summary(i));
  }

  inspect(ref: string): ImageDetailWire {
    const image = this.find(ref);
    const cfg = (JSON.parse(image.configJson) as ImageConfig).config ?? {};
    return {
      ...this.summary(image),
      index_digest: image.indexDigest,
      config_digest: image.configDigest,
      config: {
        entrypoint: cfg.Entrypoint ?? null,
        cmd: cfg.Cmd ?? null,
        env: cfg.Env ?? [],
        workdir: cfg.WorkingDir ?? "",
        user: cfg.User ?? "",
        exposed_ports: Object.keys(cfg.ExposedPorts ?? {}).sort(),
        labels: cfg.Labels ?? {},
        stop_signal: cfg.StopSignal ?? null,
      },
      layers: this.deps.repo.layers(image.digest).map((l) => ({ digest: l.digest, size: l.size, media_type: l.mediaType })),
    };
  }

  /**
   * By tag: removes that tag, and the image once no tag is left. By digest: the image and every
   * tag. Blob files stay until prune; app disks of a deleted image are deleted with it.
   */
  async remove(ref: string): Promise<RemoveImageResultWire> {
    const { repo } = this.deps;
    const byTag = this.tagFor(ref);
    const image = byTag ? repo.byTag(byTag) : undefined;
    if (byTag && image) {
      if (image.tags.length > 1) {
        repo.untag(byTag);
        return { untagged: [byTag], deleted: null };
      }
      this.refuseIfInUse(image);
      repo.untag(byTag);
      await this.deleteImage(image);
      return { untagged: [byTag], deleted: image.digest };
    }
    const target = this.find(ref);
    this.refuseIfInUse(target);
    await this.deleteImage(target);
    return { untagged: target.tags, deleted: target.digest };
  }

  /**
   * Removes what nothing references: blobs of no image, app disks no machine uses (rebuilt
   * cheaply from their image's base disk), files walk has no record of, and stale ingests.
   * Images themselves stay, so the blobs of a machine's image stay too.
   */
  prune(): Promise<PruneResultWire> {
    return this.storeLock.exclusive(() => this.pruneUnlocked());
  }

  private async pruneUnlocked(): Promise<PruneResultWire> {
    const { repo, log } = this.deps;
    const removed: string[] = [];
    const removedDisks: string[] = [];
    let reclaimed = 0;
    const inUse = repo.appDisksInUse();
    for (const d of repo.appDisks()) {
      if (inUse.has(d.id)) continue;
      repo.deleteAppDisk(d.id);
      await fs.rm(d.path, { force: true });
      removedDisks.push(d.id);
      reclaimed += d.size;
    }
    reclaimed += await this.removeUnrecordedDisks();
    for (const b of repo.blobs()) {
      if (b.refCount > 0) continue;
      await this.store.delete(b.digest);
      repo.deleteBlob(b.digest);
      removed.push(b.digest);
      reclaimed += b.size;
    }
    // Files without rows are garbage from a crash between ingest and record.
    const known = new Set(repo.blobs().map((b) => b.digest));
    for (const blob of await this.store.list()) {
      if (known.has(blob.digest)) continue;
      await this.store.delete(blob.digest);
      removed.push(blob.digest);
      reclaimed += blob.size;
    }
    for (const stale of await this.store.removeStaleIngests()) reclaimed += stale.size;
    log.info({ blobs: removed.length, disks: removedDisks.length, bytes: reclaimed }, "pruned");
    return { removed_blobs: removed, removed_app_disks: removedDisks, reclaimed_bytes: reclaimed };
  }

  /**
   * Deletes files in the disks dir that no app disk row or existing image's base accounts for.
   * Runs under the exclusive store lock, so no build has unpublished files.
   */
  private async removeUnrecordedDisks(): Promise<number> {
    const { repo, paths } = this.deps;
    const keep = new Set(repo.appDisks().map((d) => d.path));
    for (const image of repo.list()) {
      const base = basePaths(paths.disks, image.digest);
      keep.add(base.disk).add(base.patchMap);
    }
    let reclaimed = 0;
    for (const dir of [paths.disks, join(paths.disks, BASE_DIR)]) {
      const names = await fs.readdir(dir).catch(() => [] as string[]);
      for (const name of names) {
        const p = join(dir, name);
        const st = await fs.lstat(p);
        if (!st.isFile() || keep.has(p)) continue;
        await fs.rm(p, { force: true });
        reclaimed += st.size;
      }
    }
    return reclaimed;
  }

  /**
   * Startup reconcile: temp files from a crash are removed (partial downloads younger than
   * PARTIAL_KEEP_MS stay, so the next pull resumes them), and blob rows whose files are gone are
   * marked missing: that is corruption, reported rather than silently repaired.
   */
  async reconcile(): Promise<void> {
    const { repo, log } = this.deps;
    const stale = await this.store.removeStaleIngests({ olderThanMs: PARTIAL_KEEP_MS });
    if (stale.length > 0) log.info({ files: stale.length }, "removed leftover temp files");
    for (const b of repo.blobs()) {
      const present = await this.store.has(b.digest);
      if (!present && !b.missing) {
        repo.markBlobMissing(b.digest);
        log.error({ digest: b.digest }, "blob recorded in the database is missing from the content store; pull the image again");
      }
    }
  }

  private summary(i: ImageRecord): ImageSummaryWire {
    return {
      digest: i.digest,
      name: i.name,
      tags: i.tags,
      os: i.os,
      architecture: i.architecture,
      variant: i.variant,
      size: i.size,
      created_at: i.createdAt,
      app_disks: this.deps.repo
        .appDisks(i.digest)
        .map((d) => ({ id: d.id, config_id: d.configId, path: d.path, size: d.size, created_at: d.createdAt })),
    };
  }

  /** An image a machine runs stays: its app disk is that machine's root. */
  private refuseIfInUse(image: ImageRecord): void {
    const users = this.deps.repo.machinesUsing(image.digest);
    if (users.length > 0) {
      const s = users.length > 1;
      throw new WalkError("conflict", `image ${image.digest} is used by machine${s ? "s" : ""} ${users.join(", ")}; remove ${s ? "them" : "it"} first with walk rm`);
    }
  }

  /** Forgets the image first: if walkd dies before the files go, they are garbage for prune. */
  private async deleteImage(image: ImageRecord): Promise<void> {
    const disks = this.deps.repo.appDisks(image.digest);
    this.deps.repo.deleteImage(image.digest);
    for (const d of disks) await fs.rm(d.path, { force: true });
    const base = basePaths(this.deps.paths.disks, image.digest);
    await fs.rm(base.disk, { force: true });
    await fs.rm(base.patchMap, { force: true });
  }

  /** The canonical tag a user's reference names, or undefined when it is not a reference. */
  private tagFor(ref: string): string | undefined {
    if (DIGEST_PREFIX.test(ref)) return undefined;
    try {
      return tagOf(parseReference(ref)) ?? undefined;
    } catch {
      return undefined;
    }
  }

  /** Finds an image by tag, full digest, or unique digest prefix. */
  find(ref: string): ImageRecord {
    const { repo } = this.deps;
    if (DIGEST.test(ref)) {
      const img = repo.byDigest(ref);
      if (img) return img;
      throw new WalkError("not_found", `no image with digest ${ref}`);
    }
    const tag = this.tagFor(ref);
    if (tag !== undefined) {
      const img = repo.byTag(tag);
      if (img) return img;
    }
    const prefix = DIGEST_PREFIX.exec(ref);
    if (prefix) {
      const matches = repo.byDigestPrefix(prefix[1]!);
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) throw new WalkError("invalid_argument", `${ref} matches ${matches.length} images; give more of the digest`);
    }
    throw new WalkError("not_found", `no image ${tag ?? ref}; pull it first with: walk image pull ${ref}`);
  }
}

/** The tag a pull records: the canonical reference without its digest (none for by-digest pulls). */
function tagOf(ref: ImageReference): string | null {
  if (ref.kind === "registry") {
    if (ref.digest !== undefined) return null;
    return formatReference(ref);
  }
  return formatReference(ref);
}

function overridesOf(req: BuildRequest): RunOverrides {
  return {
    ...(req.entrypoint !== undefined ? { entrypoint: req.entrypoint } : {}),
    ...(req.cmd !== undefined ? { cmd: req.cmd } : {}),
    ...(req.env !== undefined ? { env: req.env } : {}),
    ...(req.workdir !== undefined ? { workdir: req.workdir } : {}),
    ...(req.user !== undefined ? { user: req.user } : {}),
  };
}

function nameOf(ref: ImageReference): string {
  return ref.kind === "registry" ? `${ref.registry}/${ref.repository}` : formatReference(ref);
}
