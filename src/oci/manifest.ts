// Parsing and validation of the OCI/Docker JSON documents walk reads: image manifests, indexes
// (and Docker manifest lists), image configs and their descriptors, plus the digest grammar and
// byte verification shared by every pull source. Every document comes from an untrusted peer, so
// nothing here trusts a field it has not checked. This module does no I/O.
import { createHash } from "node:crypto";
import { WalkError } from "../lib/errors.js";
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform } from "./types.js";

/** Manifests and indexes larger than this are refused (the bound registries and containerd use). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Image configs larger than this are refused; real ones are a few KiB, long histories some 100 KiB. */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

export const MediaType = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  dockerLayerZstd: "application/vnd.docker.image.rootfs.diff.tar.zstd",
} as const;

export type Compression = "gzip" | "zstd" | "none";

const LAYER_COMPRESSION: ReadonlyMap<string, Compression> = new Map<string, Compression>([
  [MediaType.ociLayer, "none"],
  [MediaType.ociLayerGzip, "gzip"],
  [MediaType.ociLayerZstd, "zstd"],
  ["application/vnd.oci.image.layer.nondistributable.v1.tar", "none"],
  ["application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "gzip"],
  ["application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", "zstd"],
  [MediaType.dockerLayer, "none"],
  [MediaType.dockerLayerGzip, "gzip"],
  [MediaType.dockerLayerZstd, "zstd"],
  ["application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "gzip"],
]);

const CONFIG_MEDIA_TYPES: ReadonlySet<string> = new Set([MediaType.ociConfig, MediaType.dockerConfig]);
const MANIFEST_MEDIA_TYPES: ReadonlySet<string> = new Set([MediaType.ociManifest, MediaType.dockerManifest]);
const INDEX_MEDIA_TYPES: ReadonlySet<string> = new Set([MediaType.ociIndex, MediaType.dockerManifestList]);

/** Media types a registry or layout may label a manifest with when it does not know better. */
const GENERIC_MEDIA_TYPES: ReadonlySet<string> = new Set(["", "application/json", "application/octet-stream", "text/plain"]);

export function isManifestMediaType(mediaType: string): boolean {
  return MANIFEST_MEDIA_TYPES.has(mediaType);
}

export function isIndexMediaType(mediaType: string): boolean {
  return INDEX_MEDIA_TYPES.has(mediaType);
}

export function isLayerMediaType(mediaType: string): boolean {
  return LAYER_COMPRESSION.has(mediaType);
}

/**
 * The compression a layer media type declares. Docker tools (docker save, skopeo reading a
 * docker-archive) label uncompressed tars as rootfs.diff.tar.gzip, so decompressors should check
 * the stream's magic bytes with sniffCompression before trusting "gzip" from a Docker type.
 */
export function layerCompression(mediaType: string): Compression {
  const c = LAYER_COMPRESSION.get(mediaType);
  if (c === undefined) throw new WalkError("unsupported", `unsupported layer media type ${JSON.stringify(mediaType)}`, { details: { mediaType } });
  return c;
}

/** The compression the first bytes of a layer show: gzip (1f 8b), zstd (28 b5 2f fd) or none. */
export function sniffCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  return "none";
}

// ---- digests ------------------------------------------------------------------------------------

const DIGEST_RE = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;
const SHA256_HEX_RE = /^[a-f0-9]{64}$/;

/** Checks a digest string and returns its hex part. Only sha256 is supported. */
export function parseDigest(digest: unknown, what = "digest"): { algorithm: "sha256"; hex: string } {
  if (typeof digest !== "string") throw new WalkError("invalid_argument", `${what} must be a string`);
  const m = DIGEST_RE.exec(digest);
  if (!m) throw new WalkError("invalid_argument", `${what} ${JSON.stringify(digest.slice(0, 200))} is not a valid digest (expected sha256:<64 hex>)`);
  const [, algorithm, hex] = m as unknown as [string, string, string];
  if (algorithm !== "sha256") {
    throw new WalkError("unsupported", `${what} ${digest.slice(0, 200)} uses digest algorithm ${algorithm}; walk supports only sha256`, { details: { algorithm } });
  }
  if (!SHA256_HEX_RE.test(hex)) throw new WalkError("invalid_argument", `${what} ${JSON.stringify(digest.slice(0, 200))} is not a valid sha256 digest (expected 64 lowercase hex digits)`);
  return { algorithm, hex };
}

export function isDigest(value: unknown): value is string {
  return typeof value === "string" && value.startsWith("sha256:") && SHA256_HEX_RE.test(value.slice(7));
}

export function sha256Digest(data: Uint8Array): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/**
 * Verifies that `data` is exactly what `desc` declares: its size first (so a truncated or
 * oversized body gets the clearer message), then its digest. `what` names it for the user.
 */
export function verifyBytes(data: Uint8Array, desc: { digest: string; size: number }, what: string): void {
  if (data.length > desc.size) {
    throw new WalkError("size_exceeded", `${what} ${desc.digest} is ${data.length} bytes, larger than the ${desc.size} declared`, { details: { digest: desc.digest, size: desc.size, actual: data.length } });
  }
  if (data.length < desc.size) {
    throw new WalkError("digest_mismatch", `${what} ${desc.digest} is truncated: ${data.length} of ${desc.size} declared bytes`, { details: { digest: desc.digest, size: desc.size, actual: data.length } });
  }
  const actual = sha256Digest(data);
  if (actual !== desc.digest) {
    throw new WalkError("digest_mismatch", `${what} ${desc.digest} does not match its content (which hashes to ${actual})`, { details: { digest: desc.digest, actual } });
  }
}

// ---- JSON shape checks --------------------------------------------------------------------------

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function invalid(what: string, problem: string): WalkError {
  return new WalkError("invalid_argument", `${what}: ${problem}`);
}

function parseJson(bytes: Uint8Array, what: string): Json {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (err) {
    throw new WalkError("invalid_argument", `${what} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isObject(v)) throw invalid(what, "expected a JSON object");
  return v;
}

function optionalString(o: Json, key: string, what: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw invalid(what, `"${key}" must be a string`);
  return v;
}

function requiredString(o: Json, key: string, what: string): string {
  const v = optionalString(o, key, what);
  if (v === undefined || v === "") throw invalid(what, `"${key}" is missing`);
  return v;
}

function stringMap(v: unknown, what: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw invalid(what, "must be an object of strings");
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== "string") throw invalid(what, `value of ${JSON.stringify(k)} must be a string`);
    out[k] = val;
  }
  return out;
}

function stringArray(v: unknown, what: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((s): s is string => typeof s === "string")) throw invalid(what, "must be an array of strings");
  return v;
}

function parsePlatformField(v: unknown, what: string): Platform | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw invalid(what, "platform must be an object");
  const p: Platform = { os: requiredString(v, "os", `${what} platform`), architecture: requiredString(v, "architecture", `${what} platform`) };
  const variant = optionalString(v, "variant", `${what} platform`);
  if (variant) p.variant = variant;
  const osVersion = optionalString(v, "os.version", `${what} platform`);
  if (osVersion) p["os.version"] = osVersion;
  return p;
}

/** Validates one descriptor: media type present, sha256 digest, non-negative safe-integer size. */
export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v)) throw invalid(what, "descriptor must be an object");
  const mediaType = requiredString(v, "mediaType", what);
  const digest = v.digest;
  parseDigest(digest, `${what} digest`);
  const size = v.size;
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(what, `size ${JSON.stringify(size)} must be a non-negative integer`);
  }
  const desc: Descriptor = { mediaType, digest: digest as string, size };
  const platform = parsePlatformField(v.platform, what);
  if (platform) desc.platform = platform;
  const annotations = stringMap(v.annotations, `${what} annotations`);
  if (annotations) desc.annotations = annotations;
  const urls = stringArray(v.urls, `${what} urls`);
  if (urls) desc.urls = urls;
  return desc;
}

function schemaVersion2(o: Json, what: string): void {
  if (o.schemaVersion !== 2) {
    if (o.schemaVersion === 1) throw new WalkError("unsupported", `${what} is a Docker schema 1 manifest, which walk does not support; push the image again with a current tool`);
    throw invalid(what, `schemaVersion must be 2, got ${JSON.stringify(o.schemaVersion)}`);
  }
}

/**
 * Decides what a document is from the media type it was served as and the one it declares.
 * A document that declares another type than it was served as is refused: that mismatch is how
 * manifest/index confusion attacks work.
 */
function effectiveMediaType(o: Json, servedAs: string, what: string): string {
  const declared = optionalString(o, "mediaType", what);
  const served = servedAs.split(";")[0]!.trim().toLowerCase();
  const servedGeneric = GENERIC_MEDIA_TYPES.has(served);
  if (declared !== undefined && !servedGeneric && declared !== served) {
    throw invalid(what, `is served as ${served} but declares mediaType ${declared}`);
  }
  if (!servedGeneric) return served;
  if (declared !== undefined) return declared;
  // OCI documents may omit mediaType; its shape is then the only evidence.
  if (Array.isArray(o.manifests)) return MediaType.ociIndex;
  if (isObject(o.config) && Array.isArray(o.layers)) return MediaType.ociManifest;
  throw invalid(what, "has no mediaType and is neither a manifest nor an index");
}

export type ParsedManifest =
  | { kind: "manifest"; mediaType: string; manifest: ImageManifest }
  | { kind: "index"; mediaType: string; index: ImageIndex };

/**
 * Parses a manifest or an index. `servedAs` is the media type the source labelled the bytes with
 * (a registry's Content-Type, a descriptor's mediaType). Unknown types are "unsupported".
 */
export function parseManifestOrIndex(bytes: Uint8Array, servedAs: string, what = "manifest"): ParsedManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new WalkError("size_exceeded", `${what} is ${bytes.length} bytes, larger than the limit of ${MAX_MANIFEST_BYTES}`, { details: { limit: MAX_MANIFEST_BYTES } });
  }
  const served = servedAs.split(";")[0]!.trim().toLowerCase();
  if (served.startsWith("application/vnd.docker.distribution.manifest.v1")) {
    throw new WalkError("unsupported", `${what} is a Docker schema 1 manifest, which walk does not support; push the image again with a current tool`);
  }
  if (!GENERIC_MEDIA_TYPES.has(served) && !isManifestMediaType(served) && !isIndexMediaType(served)) {
    throw new WalkError("unsupported", `${what} has unsupported media type ${JSON.stringify(served)}`, { details: { mediaType: served } });
  }
  const o = parseJson(bytes, what);
  const mediaType = effectiveMediaType(o, served, what);
  if (isIndexMediaType(mediaType)) return { kind: "index", mediaType, index: parseIndexObject(o, mediaType, what) };
  if (isManifestMediaType(mediaType)) return { kind: "manifest", mediaType, manifest: parseManifestObject(o, mediaType, what) };
  throw new WalkError("unsupported", `${what} has unsupported media type ${JSON.stringify(mediaType)}`, { details: { mediaType } });
}

function parseManifestObject(o: Json, mediaType: string, what: string): ImageManifest {
  schemaVersion2(o, what);
  const config = parseDescriptor(o.config, `${what} config`);
  if (!CONFIG_MEDIA_TYPES.has(config.mediaType)) {
    throw new WalkError("unsupported", `${what} has unsupported config media type ${JSON.stringify(config.mediaType)} (not a container image?)`, { details: { mediaType: config.mediaType } });
  }
  if (config.size > MAX_CONFIG_BYTES) {
    throw new WalkError("size_exceeded", `${what} config ${config.digest} declares ${config.size} bytes, larger than the limit of ${MAX_CONFIG_BYTES}`, { details: { limit: MAX_CONFIG_BYTES } });
  }
  if (!Array.isArray(o.layers)) throw invalid(what, `"layers" must be an array`);
  const layers = o.layers.map((l, i) => parseDescriptor(l, `${what} layer ${i}`));
  for (const [i, l] of layers.entries()) {
    if (!isLayerMediaType(l.mediaType)) {
      throw new WalkError("unsupported", `${what} layer ${i} (${l.digest}) has unsupported media type ${JSON.stringify(l.mediaType)}`, { details: { mediaType: l.mediaType, digest: l.digest } });
    }
  }
  const m: ImageManifest = { schemaVersion: 2, mediaType, config, layers };
  const annotations = stringMap(o.annotations, `${what} annotations`);
  if (annotations) m.annotations = annotations;
  return m;
}

function parseIndexObject(o: Json, mediaType: string, what: string): ImageIndex {
  schemaVersion2(o, what);
  if (!Array.isArray(o.manifests)) throw invalid(what, `"manifests" must be an array`);
  const manifests = o.manifests.map((d, i) => parseDescriptor(d, `${what} entry ${i}`));
  const idx: ImageIndex = { schemaVersion: 2, mediaType, manifests };
  const annotations = stringMap(o.annotations, `${what} annotations`);
  if (annotations) idx.annotations = annotations;
  return idx;
}

/** Parses an image manifest (not an index), for callers that already know which they hold. */
export function parseImageManifest(bytes: Uint8Array, servedAs: string, what = "manifest"): ImageManifest {
  const p = parseManifestOrIndex(bytes, servedAs, what);
  if (p.kind !== "manifest") throw invalid(what, `expected an image manifest but got an index (${p.mediaType})`);
  return p.manifest;
}

/** Parses an image index or Docker manifest list. */
export function parseImageIndex(bytes: Uint8Array, servedAs: string, what = "index"): ImageIndex {
  const p = parseManifestOrIndex(bytes, servedAs, what);
  if (p.kind !== "index") throw invalid(what, `expected an index but got an image manifest (${p.mediaType})`);
  return p.index;
}

/**
 * Parses an image config and checks it against its manifest: rootfs.type "layers" and one
 * well-formed diff_id per layer.
 */
export function parseImageConfig(bytes: Uint8Array, layerCount: number, what = "image config"): ImageConfig {
  if (bytes.length > MAX_CONFIG_BYTES) {
    throw new WalkError("size_exceeded", `${what} is ${bytes.length} bytes, larger than the limit of ${MAX_CONFIG_BYTES}`, { details: { limit: MAX_CONFIG_BYTES } });
  }
  const o = parseJson(bytes, what);
  const architecture = requiredString(o, "architecture", what);
  const os = requiredString(o, "os", what);
  const rootfs = o.rootfs;
  if (!isObject(rootfs) || rootfs.type !== "layers") throw invalid(what, `rootfs.type must be "layers"`);
  const diffIds = stringArray(rootfs.diff_ids, `${what} rootfs.diff_ids`) ?? [];
  diffIds.forEach((d, i) => parseDigest(d, `${what} rootfs.diff_ids[${i}]`));
  if (diffIds.length !== layerCount) {
    throw invalid(what, `lists ${diffIds.length} rootfs.diff_ids but the manifest has ${layerCount} layers`);
  }
  const cfg: ImageConfig = { architecture, os, rootfs: { type: "layers", diff_ids: diffIds } };
  const variant = optionalString(o, "variant", what);
  if (variant) cfg.variant = variant;
  const created = optionalString(o, "created", what);
  if (created) cfg.created = created;
  if (o.config !== undefined && o.config !== null) cfg.config = parseRunConfig(o.config, `${what} config section`);
  return cfg;
}

function parseRunConfig(v: unknown, what: string): NonNullable<ImageConfig["config"]> {
  if (!isObject(v)) throw invalid(what, "must be an object");
  const out: NonNullable<ImageConfig["config"]> = {};
  const user = optionalString(v, "User", what);
  if (user !== undefined) out.User = user;
  const workdir = optionalString(v, "WorkingDir", what);
  if (workdir !== undefined) out.WorkingDir = workdir;
  const stop = optionalString(v, "StopSignal", what);
  if (stop !== undefined) out.StopSignal = stop;
  const env = stringArray(v.Env, `${what} Env`);
  if (env) out.Env = env;
  if (v.Entrypoint !== undefined) out.Entrypoint = stringArray(v.Entrypoint, `${what} Entrypoint`) ?? null;
  if (v.Cmd !== undefined) out.Cmd = stringArray(v.Cmd, `${what} Cmd`) ?? null;
  const labels = stringMap(v.Labels, `${what} Labels`);
  if (labels) out.Labels = labels;
  if (v.ExposedPorts !== undefined && v.ExposedPorts !== null) {
    if (!isObject(v.ExposedPorts)) throw invalid(what, "ExposedPorts must be an object");
    const ports: Record<string, object> = {};
    for (const k of Object.keys(v.ExposedPorts)) ports[k] = {};
    out.ExposedPorts = ports;
  }
  return out;
}
