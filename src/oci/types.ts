// The OCI data model walk uses (descriptors, manifests, indexes, image configs, platforms) and the
// ImageSource interface every pull source implements: a registry, an OCI layout directory, or a
// docker-archive tarball. Parsing and validation of these shapes lives in src/oci/manifest.ts.
import type { Readable } from "node:stream";

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  "os.version"?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string; // "sha256:<64 hex>"
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
  urls?: string[];
}

/** A single-platform image manifest: OCI image manifest or Docker schema 2. */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** A multi-platform list: OCI image index or Docker manifest list. */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** The parts of the OCI image config walk reads. */
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  config?: {
    User?: string;
    ExposedPorts?: Record<string, object>;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
  };
  rootfs: { type: "layers"; diff_ids: string[] };
  created?: string;
}

/** Raw manifest bytes as fetched, with the media type and digest they were verified against. */
export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

/**
 * Where an image comes from. Implementations bound every read and never trust a length the peer
 * did not declare. Callers verify blob digests while streaming (src/image/store does).
 */
export interface ImageSource {
  /** Canonical display name, e.g. "docker.io/library/nginx:latest" or "oci:/path:tag". */
  readonly name: string;
  /**
   * The manifest or index the source's reference names. When the reference is a digest, the
   * bytes are verified against it before returning. Bounded by the manifest size limit.
   */
  getRootManifest(): Promise<FetchedManifest>;
  /** A manifest (child of an index) by descriptor, verified against its digest and size. */
  getManifest(desc: Descriptor): Promise<FetchedManifest>;
  /**
   * Opens a blob at byte `offset` (0 for the whole blob). The stream ends after at most
   * `desc.size - offset` bytes and errors with size_exceeded if the peer sends more.
   * Sources that cannot seek return the stream from 0 and say so with `offset: 0`.
   */
  openBlob(desc: Descriptor, offset: number, signal?: AbortSignal): Promise<{ stream: Readable; offset: number }>;
  /** Releases connections or file handles. */
  close(): Promise<void>;
}
