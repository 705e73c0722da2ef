// Pulling an image into the content store: resolve it for a platform, then store its layers
// (a bounded number at once, skipping blobs already stored), its config, its manifest and last its
// index, so a stored manifest always has its children beside it. Transient failures are retried a
// few times, resuming through the store's partial files. Progress goes out as events a CLI can
// draw as per-layer bars. This module records nothing in SQLite: it returns what it stored.
import { WalkError, isWalkError } from "../lib/errors.js";
import type { Logger } from "../lib/log.js";
import type { Descriptor, ImageSource, Platform } from "../oci/types.js";
import { resolveImage, type ResolvedImage } from "../oci/resolve.js";
import { formatPlatform, hostPlatform } from "../oci/platform.js";
import type { BlobStore } from "./store/index.js";

export type BlobKind = "index" | "manifest" | "config" | "layer";

export interface PulledBlob {
  digest: string;
  size: number;
  mediaType: string;
  kind: BlobKind;
}

export type LayerStatus = "exists" | "downloading" | "verifying" | "done";

export type PullEvent =
  | {
      type: "resolved";
      name: string;
      /** The image's digest (its platform manifest). */
      digest: string;
      indexDigest?: string;
      platform: string;
      /** Sum of the layer sizes. */
      total: number;
      completed: 0;
      layers: { digest: string; size: number; mediaType: string }[];
    }
  | { type: "layer"; digest: string; total: number; completed: number; status: LayerStatus }
  | { type: "done"; digest: string; total: number; completed: number };

export interface PullOptions {
  source: ImageSource;
  store: BlobStore;
  /** Default: the host's platform. */
  platform?: Platform;
  /** Layers downloaded at once; default 4. */
  concurrency?: number;
  /** Further attempts per layer after a transient failure; default 3. */
  retries?: number;
  /** First retry delay; doubles per attempt. Default 500 ms. */
  retryDelayMs?: number;
  onProgress?: (event: PullEvent) => void;
  signal?: AbortSignal;
  logger?: Logger;
}

export interface PullResult {
  image: ResolvedImage;
  /** Every blob the image references, each once: layers, config, manifest, index. */
  blobs: PulledBlob[];
  /** Bytes fetched from the source for layers in this pull (resumed prefixes excluded). */
  downloadedBytes: number;
}

const NETWORK_ERRNOS: ReadonlySet<string> = new Set(["ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "ERR_STREAM_PREMATURE_CLOSE"]);

/** Failures worth another attempt: the network and the peer's availability, never bad content. */
function isTransient(err: unknown): boolean {
  if (isWalkError(err)) return err.code === "unavailable" || err.code === "timeout";
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && NETWORK_ERRNOS.has(code);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new WalkError("canceled", "pull was canceled"));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new WalkError("canceled", "pull was canceled"));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Runs `work` over `items` with at most `limit` in flight; the first failure stops new starts. */
async function pool<T>(items: readonly T[], limit: number, stop: AbortController, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let firstError: Error | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && !stop.signal.aborted) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (err) {
        firstError ??= err instanceof Error ? err : new Error(String(err));
        stop.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (firstError !== undefined) throw firstError;
}

export async function pullImage(opts: PullOptions): Promise<PullResult> {
  const { source, store, logger } = opts;
  const concurrency = opts.concurrency ?? 4;
  const retries = opts.retries ?? 3;
  const retryDelayMs = opts.retryDelayMs ?? 500;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new WalkError("invalid_argument", `pull concurrency must be a positive integer, got ${concurrency}`);
  const emit = opts.onProgress ?? ((): void => undefined);
  const stop = new AbortController();
  const onOuterAbort = (): void => stop.abort();
  opts.signal?.addEventListener("abort", onOuterAbort, { once: true });
  if (opts.signal?.aborted) stop.abort();
  const canceledError = (): WalkError => new WalkError("canceled", `pull of ${source.name} was canceled`);

  try {
    const platform = opts.platform ?? hostPlatform();
    const image = await resolveImage(source, platform, stop.signal);
    const layers = uniqueByDigest(image.layers);
    const total = layers.reduce((n, l) => n + l.size, 0);
    emit({
      type: "resolved",
      name: image.name,
      digest: image.digest,
      ...(image.indexDigest ? { indexDigest: image.indexDigest } : {}),
      platform: formatPlatform(image.platform),
      total,
      completed: 0,
      layers: layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
    });

    let downloadedBytes = 0;
    const pullLayer = async (desc: Descriptor): Promise<void> => {
      let reported = -1;
      // About a hundred updates per layer, but not one per network chunk for small layers.
      const step = Math.max(32 * 1024, Math.floor(desc.size / 100));
      const progress = (completed: number): void => {
        if (completed === desc.size || completed - reported >= step || reported < 0) {
          reported = completed;
          emit({ type: "layer", digest: desc.digest, total: desc.size, completed, status: completed === desc.size ? "verifying" : "downloading" });
        }
      };
      for (let attempt = 0; ; attempt++) {
        try {
          const r = await store.ingest(desc, (offset, signal) => source.openBlob(desc, offset, signal), { onProgress: progress, signal: stop.signal });
          if (!r.existed) downloadedBytes += r.size - r.resumedFrom;
          if (r.resumedFrom > 0) logger?.info({ digest: desc.digest, resumedFrom: r.resumedFrom }, "layer download resumed");
          emit({ type: "layer", digest: desc.digest, total: desc.size, completed: desc.size, status: r.existed ? "exists" : "done" });
          return;
        } catch (err) {
          if (stop.signal.aborted || attempt >= retries || !isTransient(err)) throw err;
          const delay = retryDelayMs * 2 ** attempt;
          logger?.warn({ digest: desc.digest, attempt: attempt + 1, err: (err as Error).message }, `layer download failed; retrying in ${delay} ms`);
          await sleep(delay, stop.signal);
        }
      }
    };
    await pool(layers, concurrency, stop, pullLayer);

    const cfg = image.manifest.parsed.config;
    await store.putBytes(cfg, image.config.bytes, { signal: stop.signal });
    await store.putBytes({ digest: image.manifest.digest, size: image.manifest.bytes.length }, image.manifest.bytes, { signal: stop.signal });
    if (image.index) await store.putBytes({ digest: image.index.digest, size: image.index.bytes.length }, image.index.bytes, { signal: stop.signal });

    const blobs: PulledBlob[] = [
      ...layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType, kind: "layer" as const })),
      { digest: cfg.digest, size: cfg.size, mediaType: cfg.mediaType, kind: "config" },
      { digest: image.manifest.digest, size: image.manifest.bytes.length, mediaType: image.manifest.mediaType, kind: "manifest" },
    ];
    if (image.index) blobs.push({ digest: image.index.digest, size: image.index.bytes.length, mediaType: image.index.mediaType, kind: "index" });
    emit({ type: "done", digest: image.digest, total, completed: total });
    return { image, blobs: uniqueByDigest(blobs), downloadedBytes };
  } catch (err) {
    if (opts.signal?.aborted) throw canceledError();
    throw err;
  } finally {
    opts.signal?.removeEventListener("abort", onOuterAbort);
  }
}

function uniqueByDigest<T extends { digest: string }>(items: readonly T[]): T[] {
  const seen = new Set<string>();
  return items.filter((i) => (seen.has(i.digest) ? false : (seen.add(i.digest), true)));
}
