// ImageSource for a repository on an OCI distribution registry. Fetches manifests (bounded,
// verified against the reference's digest, the descriptor and Docker-Content-Digest) and streams
// blobs bounded by their declared size, resuming a broken download with a Range request. Manifest
// JSON is not interpreted here: that is src/oci/manifest.ts's job.
import { Readable } from "node:stream";
import { WalkError } from "../../lib/errors.js";
import { MAX_MANIFEST_BYTES, MediaType, parseDigest, sha256Digest, verifyBytes } from "../manifest.js";
import { formatReference, type RegistryReference } from "../reference.js";
import type { Descriptor, FetchedManifest, ImageSource } from "../types.js";
import { RegistryClient, type RegistryClientOptions } from "./client.js";
import { isRetryable, readBody, transientError, type HttpResponse } from "./transport.js";
import { retryDelay, sleep } from "./retry.js";

export interface RegistrySourceOptions extends RegistryClientOptions {
  /** Largest manifest or index accepted, in bytes. Default 4 MiB. */
  manifestLimit?: number;
}

/** Every manifest type walk can use, in order of preference. */
export const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.dockerManifest].join(", ");

interface BlobResponse {
  res: HttpResponse;
  /** The byte offset the body starts at: the requested one on a 206, 0 on a 200. */
  start: number;
}

export class RegistrySource implements ImageSource {
  readonly name: string;
  private readonly ref: RegistryReference;
  private readonly client: RegistryClient;
  private readonly options: RegistrySourceOptions;

  constructor(ref: RegistryReference, options: RegistrySourceOptions = {}) {
    this.ref = ref;
    this.name = formatReference(ref);
    this.options = options;
    this.client = new RegistryClient(ref.registry, options);
  }

  private get scope(): string {
    return `repository:${this.ref.repository}:pull`;
  }

  async getRootManifest(): Promise<FetchedManifest> {
    const tagOrDigest = this.ref.digest ?? this.ref.tag ?? "latest";
    const expected = this.ref.digest === undefined ? undefined : { digest: this.ref.digest };
    return this.fetchManifest(tagOrDigest, `manifest ${this.name}`, expected);
  }

  async getManifest(desc: Descriptor): Promise<FetchedManifest> {
    parseDigest(desc.digest, `manifest digest in ${this.name}`);
    return this.fetchManifest(desc.digest, `manifest ${desc.digest} of ${this.name}`, desc);
  }

  async openBlob(desc: Descriptor, offset: number, signal?: AbortSignal): Promise<{ stream: Readable; offset: number }> {
    parseDigest(desc.digest, `blob digest in ${this.name}`);
    if (!Number.isSafeInteger(desc.size) || desc.size < 0 || !Number.isSafeInteger(offset) || offset < 0 || offset > desc.size) {
      throw new WalkError("invalid_argument", `cannot open blob ${desc.digest} of ${this.name} at offset ${offset} of ${desc.size} bytes`);
    }
    if (offset === desc.size) return { stream: Readable.from([]), offset };
    const first = await this.requestBlob(desc, offset, signal);
    // Reading up to 1 MiB ahead keeps the socket busy while the caller hashes and writes.
    const stream = Readable.from(this.blobChunks(desc, first, signal), { objectMode: false, highWaterMark: 1 << 20 });
    return { stream, offset: first.start };
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private async fetchManifest(tagOrDigest: string, what: string, expected?: { digest: string; size?: number }): Promise<FetchedManifest> {
    const limit = this.options.manifestLimit ?? MAX_MANIFEST_BYTES;
    if (expected?.size !== undefined && expected.size > limit) {
      throw new WalkError("size_exceeded", `${what} declares ${expected.size} bytes, over the manifest limit of ${limit} bytes`, { details: { limit } });
    }
    const path = `/v2/${this.ref.repository}/manifests/${tagOrDigest}`;
    return this.client.get(path, { scope: this.scope, headers: { accept: MANIFEST_ACCEPT }, what }, async (res) => {
      const bytes = await readBody(res, expected?.size ?? limit, what);
      const digest = sha256Digest(bytes);
      if (expected?.size !== undefined) verifyBytes(bytes, { digest: expected.digest, size: expected.size }, what);
      else if (expected !== undefined && digest !== expected.digest) {
        throw new WalkError("digest_mismatch", `${what} does not match its digest (the registry sent content hashing to ${digest})`, { details: { digest: expected.digest, actual: digest } });
      }
      checkContentDigest(res, digest, what);
      const contentType = res.headers["content-type"] ?? "";
      return { bytes, mediaType: contentType.split(";")[0]!.trim().toLowerCase(), digest };
    });
  }

  private requestBlob(desc: Descriptor, from: number, signal?: AbortSignal): Promise<BlobResponse> {
    const what = `blob ${desc.digest} of ${this.name}`;
    const headers: Record<string, string> = from > 0 ? { range: `bytes=${from}-` } : {};
    return this.client.get(`/v2/${this.ref.repository}/blobs/${desc.digest}`, { scope: this.scope, headers, signal, what }, async (res) => {
      if (res.status !== 200 && res.status !== 206) throw new WalkError("unavailable", `registry ${this.ref.registry} answered ${res.status} for ${what}`);
      const start = res.status === 206 ? contentRangeStart(res, desc, what) : 0;
      if (start !== from && start !== 0) throw new WalkError("unavailable", `registry ${this.ref.registry} sent ${what} from byte ${start}, not the ${from} asked for`);
      const declared = Number(res.headers["content-length"]);
      if (Number.isFinite(declared) && declared > desc.size - start) {
        throw new WalkError("size_exceeded", `${what} is ${declared + start} bytes, larger than the ${desc.size} declared`, { details: { digest: desc.digest, size: desc.size } });
      }
      checkContentDigest(res, desc.digest, what);
      return { res, start };
    });
  }

  /**
   * The blob's bytes from `first.start` on, at most up to desc.size. A broken or short body is
   * resumed from the byte reached (a 200 in reply to the Range is read past what was already
   * delivered), so the caller sees one continuous stream.
   */
  private async *blobChunks(desc: Descriptor, first: BlobResponse, signal?: AbortSignal): AsyncGenerator<Buffer> {
    const what = `blob ${desc.digest} of ${this.name}`;
    const maxResumes = Math.max(0, (this.options.retry?.attempts ?? 4) - 1);
    let { res, start: position } = first;
    let skip = 0;
    let resumes = 0;
    let progressAt = position;
    try {
      for (;;) {
        let broken: unknown;
        try {
          for await (const chunk of res.body as AsyncIterable<Buffer>) {
            let c = chunk;
            if (skip > 0) {
              const dropped = Math.min(skip, c.length);
              skip -= dropped;
              c = c.subarray(dropped);
              if (c.length === 0) continue;
            }
            if (position + c.length > desc.size) {
              throw new WalkError("size_exceeded", `${what} is larger than the ${desc.size} bytes declared`, { details: { digest: desc.digest, size: desc.size } });
            }
            position += c.length;
            yield c;
          }
        } catch (err) {
          if (!isRetryable(err)) throw err;
          broken = err;
        }
        if (position === desc.size && skip === 0) return;
        if (position > progressAt) resumes = 0;
        progressAt = position;
        if (++resumes > maxResumes) {
          if (broken instanceof Error) throw broken;
          throw transientError("unavailable", `${what} ended after ${position} of ${desc.size} bytes`);
        }
        this.options.logger?.debug({ blob: desc.digest, position, resumes }, "resuming blob download");
        await sleep(retryDelay(resumes, broken, this.options.retry ?? {}), signal);
        res.body.destroy();
        const next = await this.requestBlob(desc, position, signal);
        res = next.res;
        skip = position - next.start;
      }
    } finally {
      res.body.destroy();
    }
  }
}

function contentRangeStart(res: HttpResponse, desc: Descriptor, what: string): number {
  const range = res.headers["content-range"] ?? "";
  const m = /^bytes ([0-9]+)-([0-9]+)\/([0-9]+|\*)$/.exec(range.trim());
  if (m === null || (m[3] !== "*" && Number(m[3]) !== desc.size) || Number(m[2]) >= desc.size) {
    throw new WalkError("unavailable", `registry answered a range request for ${what} with an invalid Content-Range ${JSON.stringify(range.slice(0, 100))}`);
  }
  return Number(m[1]);
}

/**
 * Docker-Content-Digest, when sent with the algorithm walk uses, must agree with `digest`. Blob
 * storage behind a redirect need not send it.
 */
function checkContentDigest(res: HttpResponse, digest: string, what: string): void {
  const served = res.headers["docker-content-digest"];
  if (typeof served === "string" && served.startsWith("sha256:") && served !== digest) {
    throw new WalkError("digest_mismatch", `${what}: the registry's Docker-Content-Digest ${served.slice(0, 80)} does not match ${digest}`, { details: { digest, served: served.slice(0, 80) } });
  }
}
