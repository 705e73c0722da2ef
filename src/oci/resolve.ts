// Resolving an image: from a source's root manifest to the one platform-specific manifest, its
// config and its layer descriptors, every byte verified against its digest and size. This module
// fetches only manifests and the config (small, bounded); layers are the content store's job.
import { WalkError } from "../lib/errors.js";
import { readBounded } from "../lib/bounded.js";
import type { Descriptor, FetchedManifest, ImageConfig, ImageIndex, ImageManifest, ImageSource, Platform } from "./types.js";
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, parseDigest, parseImageConfig, parseManifestOrIndex, sha256Digest, verifyBytes } from "./manifest.js";
import { formatPlatform, normalizePlatform, platformMatches, selectPlatform } from "./platform.js";

export interface VerifiedDocument<T> {
  bytes: Buffer;
  mediaType: string;
  digest: string;
  parsed: T;
}

export interface ResolvedImage {
  /** The source's display name. */
  name: string;
  /** The image's identity: the digest of its platform-specific manifest (what skopeo reports). */
  digest: string;
  /** Set when the reference named an index or manifest list: that document's digest. */
  indexDigest?: string;
  index?: VerifiedDocument<ImageIndex>;
  manifest: VerifiedDocument<ImageManifest>;
  config: VerifiedDocument<ImageConfig>;
  layers: Descriptor[];
  /** The index entry's platform, or for a lone manifest the one its config declares (normalised). */
  platform: Platform;
}

/**
 * Checks a fetched manifest against its own digest (and a descriptor when there is one). Sources
 * already verify; this is the second, independent check, so a buggy source cannot slip one by.
 */
function verifyFetched(f: FetchedManifest, what: string, desc?: Descriptor): void {
  if (f.bytes.length > MAX_MANIFEST_BYTES) {
    throw new WalkError("size_exceeded", `${what} is ${f.bytes.length} bytes, larger than the limit of ${MAX_MANIFEST_BYTES}`, { details: { limit: MAX_MANIFEST_BYTES } });
  }
  parseDigest(f.digest, `${what} digest`);
  if (desc) verifyBytes(f.bytes, desc, what);
  const actual = sha256Digest(f.bytes);
  if (actual !== f.digest) {
    throw new WalkError("digest_mismatch", `${what} ${f.digest} does not match its content (which hashes to ${actual})`, { details: { digest: f.digest, actual } });
  }
}

async function fetchConfig(source: ImageSource, desc: Descriptor, signal?: AbortSignal): Promise<Buffer> {
  if (desc.size > MAX_CONFIG_BYTES) {
    throw new WalkError("size_exceeded", `image config ${desc.digest} of ${source.name} declares ${desc.size} bytes, larger than the limit of ${MAX_CONFIG_BYTES}`, { details: { limit: MAX_CONFIG_BYTES } });
  }
  const { stream, offset } = await source.openBlob(desc, 0, signal);
  if (offset !== 0) {
    stream.destroy();
    throw new WalkError("internal", `${source.name} opened config ${desc.digest} at offset ${offset} instead of 0`);
  }
  let bytes: Buffer;
  try {
    bytes = await readBounded(stream, desc.size, `image config ${desc.digest} of ${source.name}`);
  } finally {
    stream.destroy();
  }
  verifyBytes(bytes, desc, `image config of ${source.name}`);
  return bytes;
}

/**
 * Resolves `source` for `platform`: an index is narrowed to the best matching manifest; a single
 * manifest must be for that platform (its config says which). Throws not_found listing the
 * index's platforms when none matches, unsupported for media types walk does not handle.
 */
export async function resolveImage(source: ImageSource, platform: Platform, signal?: AbortSignal): Promise<ResolvedImage> {
  const root = await source.getRootManifest();
  verifyFetched(root, `manifest of ${source.name}`);
  const parsedRoot = parseManifestOrIndex(root.bytes, root.mediaType, `manifest of ${source.name}`);

  let index: VerifiedDocument<ImageIndex> | undefined;
  let manifest: VerifiedDocument<ImageManifest>;
  let selectedPlatform: Platform | undefined;
  if (parsedRoot.kind === "index") {
    index = { bytes: root.bytes, mediaType: parsedRoot.mediaType, digest: root.digest, parsed: parsedRoot.index };
    const desc = selectPlatform(parsedRoot.index, platform, source.name);
    selectedPlatform = desc.platform;
    const what = `${formatPlatform(desc.platform!)} manifest of ${source.name}`;
    const child = await source.getManifest(desc);
    verifyFetched(child, what, desc);
    const parsedChild = parseManifestOrIndex(child.bytes, desc.mediaType, what);
    if (parsedChild.kind !== "manifest") throw new WalkError("unsupported", `${what} is itself an index; nested indexes are not supported`);
    manifest = { bytes: child.bytes, mediaType: parsedChild.mediaType, digest: desc.digest, parsed: parsedChild.manifest };
  } else {
    manifest = { bytes: root.bytes, mediaType: parsedRoot.mediaType, digest: root.digest, parsed: parsedRoot.manifest };
  }

  const m = manifest.parsed;
  const configBytes = await fetchConfig(source, m.config, signal);
  const config = parseImageConfig(configBytes, m.layers.length, `image config of ${source.name}`);
  const declared: Platform = config.variant ? { os: config.os, architecture: config.architecture, variant: config.variant } : { os: config.os, architecture: config.architecture };
  // An index entry's platform was matched above; real indexes sometimes carry configs that omit
  // the variant, so only a lone manifest is held to what its config declares.
  if (!index && !platformMatches(platform, declared)) {
    throw new WalkError(
      "unsupported",
      `${source.name} is an image for ${formatPlatform(normalizePlatform(declared))}, not for the requested platform ${formatPlatform(normalizePlatform(platform))}`,
      { details: { platform: formatPlatform(platform), available: [formatPlatform(declared)] } },
    );
  }
  const resolved: ResolvedImage = {
    name: source.name,
    digest: manifest.digest,
    manifest,
    config: { bytes: configBytes, mediaType: m.config.mediaType, digest: m.config.digest, parsed: config },
    layers: m.layers,
    platform: normalizePlatform(selectedPlatform ?? declared),
  };
  if (index) {
    resolved.index = index;
    resolved.indexDigest = index.digest;
  }
  return resolved;
}
