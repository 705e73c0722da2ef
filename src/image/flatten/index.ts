// Public surface of layer flattening: stream each layer (decompress, verify its diff_id, read its
// tar) into one in-memory tree whose file contents are already in the DataSink. The caller owns
// the sink and decides what to publish; a thrown error means the tree must be thrown away.
import { createHash } from "node:crypto";
import { WalkError } from "../../lib/errors.js";
import type { Logger } from "../../lib/log.js";
import type { DataSink, Node } from "../tree.js";
import { Flattener } from "./apply.js";
import { throwIfCanceled } from "./cancel.js";
import { compressionOf, decompress } from "./decompress.js";
import { withDefaults, type FlattenLimits } from "./limits.js";
import { readAhead } from "./read-ahead.js";
import { readTar } from "./tar.js";

export { DEFAULT_FLATTEN_LIMITS, type FlattenLimits } from "./limits.js";
export { compressionOf, decompress, type Compression } from "./decompress.js";
export { readTar, type TarEntry, type TarHeader, type TarEntryType } from "./tar.js";
export { Flattener } from "./apply.js";
export { throwIfCanceled } from "./cancel.js";

/** One layer as the builder needs it, independent of where it is stored. */
export interface LayerInput {
  /** Digest of the (compressed) blob: names the layer in messages. */
  digest: string;
  /** The config's rootfs.diff_ids entry: sha256 of the uncompressed tar. */
  diffId: string;
  mediaType: string;
  /** Opens the blob from its first byte. */
  open(): Promise<AsyncIterable<Uint8Array>>;
}

export interface FlattenProgress {
  /** 0-based index of the layer being read. */
  layer: number;
  layers: number;
  digest: string;
  /** Uncompressed bytes of this layer read so far. */
  bytes: number;
  /** Uncompressed bytes of all layers read so far. */
  totalBytes: number;
}

export interface FlattenOptions {
  limits?: Partial<FlattenLimits>;
  logger?: Logger;
  onProgress?: (p: FlattenProgress) => void;
  signal?: AbortSignal;
}

const PROGRESS_EVERY = 8 << 20;
const READ_AHEAD_BYTES = 8 << 20;

/** Every error of a layer names it, so a user can tell which blob is at fault. */
function inLayer(err: unknown, layer: LayerInput, index: number): WalkError {
  const e = err instanceof WalkError ? err : new WalkError("internal", err instanceof Error ? err.message : String(err), { cause: err });
  if (e.details?.layer !== undefined || e.code === "canceled") return e;
  return new WalkError(e.code, `layer ${index + 1} (${layer.digest}): ${e.message}`, { cause: e, details: { ...e.details, layer: layer.digest } });
}

/** Flattens `layers` (lowest first) into a tree; file contents go into `sink`. */
export async function flattenLayers(layers: readonly LayerInput[], sink: DataSink, opts: FlattenOptions = {}): Promise<Node> {
  const limits = withDefaults(opts.limits);
  const flattener = new Flattener(sink, limits, opts.logger);
  let totalBytes = 0;
  for (const [index, layer] of layers.entries()) {
    try {
      throwIfCanceled(opts.signal);
      if (!/^sha256:[0-9a-f]{64}$/.test(layer.diffId)) throw new WalkError("invalid_argument", `diff_id ${JSON.stringify(layer.diffId)} is not a sha256 digest`);
      const compression = compressionOf(layer.mediaType);
      const hash = createHash("sha256");
      let bytes = 0;
      let reported = 0;
      const counted = async function* (src: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
        for await (const chunk of src) {
          bytes += chunk.length;
          totalBytes += chunk.length;
          if (totalBytes > limits.maxTotalBytes) {
            throw new WalkError("size_exceeded", `the layers hold more than the limit of ${limits.maxTotalBytes} uncompressed bytes`);
          }
          hash.update(chunk);
          if (bytes - reported >= PROGRESS_EVERY) {
            reported = bytes;
            opts.onProgress?.({ layer: index, layers: layers.length, digest: layer.digest, bytes, totalBytes });
          }
          yield chunk;
        }
      };
      // Hashing happens on the read-ahead side, in the time the reader spends awaiting disk writes.
      const mislabeled = (actual: string): void =>
        opts.logger?.warn({ layer: layer.digest, mediaType: layer.mediaType, actual }, "layer content is not compressed the way its media type says; reading it as it is");
      const tar = readAhead(counted(decompress(await layer.open(), compression, mislabeled)), READ_AHEAD_BYTES);
      flattener.beginLayer();
      for await (const { header, body } of readTar(tar, limits)) {
        throwIfCanceled(opts.signal);
        await flattener.apply(header, body);
      }
      const actual = `sha256:${hash.digest("hex")}`;
      if (actual !== layer.diffId) {
        throw new WalkError("digest_mismatch", `the uncompressed layer hashes to ${actual}, but the image config's diff_ids say ${layer.diffId}`, { details: { expected: layer.diffId, actual } });
      }
      opts.onProgress?.({ layer: index, layers: layers.length, digest: layer.digest, bytes, totalBytes });
    } catch (err) {
      throw inLayer(err, layer, index);
    }
  }
  return flattener.root;
}
