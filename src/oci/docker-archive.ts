// `docker save` tarballs as a pull source (`docker-archive:PATH[:REF]`), read in place through a
// tar index, never extracted. Docker 25+ archives carry an OCI layout (index.json, blobs/sha256)
// and are served from it unchanged. Older ones only have manifest.json; for those a Docker schema 2
// manifest is synthesised exactly as skopeo does, so digests match `skopeo inspect docker-archive:`:
// config digest = sha256 of the config file, layer digest = its diff_id, layer size = uncompressed
// size, media type rootfs.diff.tar.gzip (even for plain tars, as skopeo writes), compact JSON.
import { promises as fs } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { WalkError } from "../lib/errors.js";
import type { Descriptor, FetchedManifest, ImageSource } from "./types.js";
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, MediaType, parseImageConfig, sha256Digest, sniffCompression } from "./manifest.js";
import { LayoutSource, selectLayoutEntry, type LayoutFiles } from "./layout.js";
import { TarIndex, type TarMember } from "./tar-index.js";
import { formatReference, parseRegistryReference } from "./reference.js";

const IMAGE_NAME_ANNOTATION = "io.containerd.image.name";
const RANGE_CHUNK = 256 * 1024;

/** LayoutFiles over the members of an indexed tar file. */
class TarFiles implements LayoutFiles {
  readonly name: string;
  private readonly fh: FileHandle;
  private readonly index: TarIndex;

  constructor(fh: FileHandle, index: TarIndex, name: string) {
    this.fh = fh;
    this.index = index;
    this.name = name;
  }

  member(path: string): TarMember | undefined {
    return this.index.resolveFile(path);
  }

  async size(path: string): Promise<number | undefined> {
    return this.member(path)?.size;
  }

  async readFile(path: string, limit: number): Promise<Buffer | undefined> {
    const m = this.member(path);
    if (!m) return undefined;
    if (m.size > limit) throw new WalkError("size_exceeded", `${path} in ${this.name} is ${m.size} bytes, larger than the limit of ${limit}`, { details: { limit } });
    return this.readAt(m, 0, m.size);
  }

  async readAt(m: TarMember, start: number, length: number): Promise<Buffer> {
    const buf = Buffer.alloc(Math.max(0, Math.min(length, m.size - start)));
    const { bytesRead } = await this.fh.read(buf, 0, buf.length, m.offset + start);
    return buf.subarray(0, bytesRead);
  }

  async openRange(path: string, start: number, end: number): Promise<Readable> {
    const m = this.member(path);
    if (!m) throw new WalkError("not_found", `${this.name} has no member ${path}`);
    return this.rangeOf(m, start, end);
  }

  rangeOf(m: TarMember, start: number, end: number): Readable {
    const to = Math.min(end, m.size);
    if (to <= start) return Readable.from([]);
    // Positional reads on the one shared handle: a file stream would close it when destroyed.
    const fh = this.fh;
    let pos = m.offset + start;
    const stop = m.offset + to;
    return new Readable({
      read() {
        const n = Math.min(RANGE_CHUNK, stop - pos);
        if (n <= 0) {
          this.push(null);
          return;
        }
        fh.read(Buffer.allocUnsafe(n), 0, n, pos).then(
          ({ bytesRead, buffer }) => {
            pos += bytesRead;
            this.push(bytesRead === 0 ? null : buffer.subarray(0, bytesRead));
          },
          (err: unknown) => this.destroy(err instanceof Error ? err : new Error(String(err))),
        );
      },
    });
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/** Canonical "registry/repo:tag" of a user's or RepoTags' reference, or undefined if malformed. */
function canonical(ref: string): string | undefined {
  try {
    return formatReference(parseRegistryReference(ref));
  } catch {
    return undefined;
  }
}

function canonicalWanted(ref: string, name: string): string {
  const c = canonical(ref);
  if (c === undefined) throw new WalkError("invalid_argument", `${name}: ${JSON.stringify(ref)} is not a valid image reference (expected NAME[:TAG] or @INDEX)`);
  return c;
}

interface LegacyEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

function parseLegacyManifest(bytes: Buffer, name: string): LegacyEntry[] {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new WalkError("invalid_argument", `manifest.json of ${name} is not valid JSON`, { cause: err });
  }
  if (!Array.isArray(v)) throw new WalkError("invalid_argument", `manifest.json of ${name} must be an array`);
  return v.map((e: unknown, i) => {
    const o = e as Record<string, unknown> | null;
    const strings = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === "string");
    if (typeof o !== "object" || o === null || typeof o.Config !== "string" || !strings(o.Layers) || !(o.RepoTags === null || o.RepoTags === undefined || strings(o.RepoTags))) {
      throw new WalkError("invalid_argument", `manifest.json of ${name}: entry ${i} needs Config (string), Layers (strings) and RepoTags (strings or null)`);
    }
    return { Config: o.Config, Layers: o.Layers, RepoTags: (o.RepoTags) ?? [] };
  });
}

function selectLegacy(entries: LegacyEntry[], ref: string | undefined, name: string): LegacyEntry {
  const tags = entries.flatMap((e) => e.RepoTags);
  const listed = tags.length > 0 ? `; it has: ${tags.join(", ")}` : "";
  if (ref === undefined) {
    if (entries.length === 1) return entries[0]!;
    if (entries.length === 0) throw new WalkError("not_found", `${name} holds no images`);
    throw new WalkError("invalid_argument", `${name} holds ${entries.length} images; name one as docker-archive:PATH:NAME[:TAG] or :@INDEX${listed}`, { details: { available: tags } });
  }
  const byIndex = /^@(\d+)$/.exec(ref);
  if (byIndex) {
    const e = entries[Number(byIndex[1])];
    if (!e) throw new WalkError("not_found", `${name} has no image at index ${byIndex[1]} (it holds ${entries.length})`);
    return e;
  }
  const want = canonicalWanted(ref, name);
  const found = entries.find((e) => e.RepoTags.some((t) => canonical(t) === want));
  if (!found) throw new WalkError("not_found", `${name} has no image tagged ${ref}${listed}`, { details: { available: tags } });
  return found;
}

interface LegacyLayer {
  desc: Descriptor;
  member: TarMember;
  gzip: boolean;
}

/** A pre-Docker-25 archive: manifest.json, config JSON files and layer tars. */
class LegacyArchiveSource implements ImageSource {
  readonly name: string;
  private readonly files: TarFiles;
  private readonly manifest: FetchedManifest;
  private readonly config: { desc: Descriptor; bytes: Buffer };
  private readonly layers: Map<string, LegacyLayer>;

  constructor(name: string, files: TarFiles, manifest: FetchedManifest, config: { desc: Descriptor; bytes: Buffer }, layers: Map<string, LegacyLayer>) {
    this.name = name;
    this.files = files;
    this.manifest = manifest;
    this.config = config;
    this.layers = layers;
  }

  static async open(files: TarFiles, name: string, ref: string | undefined): Promise<LegacyArchiveSource> {
    const manifestJson = await files.readFile("manifest.json", MAX_MANIFEST_BYTES);
    if (manifestJson === undefined) throw new WalkError("invalid_argument", `${name} is not a docker save archive: it has neither manifest.json nor index.json`);
    const entry = selectLegacy(parseLegacyManifest(manifestJson, name), ref, name);
    const configBytes = await files.readFile(entry.Config, MAX_CONFIG_BYTES);
    if (configBytes === undefined) throw new WalkError("invalid_argument", `${name}: config ${entry.Config} named in manifest.json is missing`);
    const config = parseImageConfig(configBytes, entry.Layers.length, `image config ${entry.Config} of ${name}`);
    const layers = new Map<string, LegacyLayer>();
    const descs: Descriptor[] = [];
    for (const [i, path] of entry.Layers.entries()) {
      const member = files.member(path);
      if (!member) throw new WalkError("invalid_argument", `${name}: layer ${path} named in manifest.json is missing`);
      const diffId = config.rootfs.diff_ids[i]!;
      const compression = sniffCompression(await files.readAt(member, 0, 4));
      if (compression === "zstd") throw new WalkError("unsupported", `${name}: layer ${path} is zstd-compressed, which walk does not read in a docker-archive`);
      const gzip = compression === "gzip";
      const size = gzip ? await gunzippedSize(files.rangeOf(member, 0, member.size), `${name}: layer ${path}`) : member.size;
      const desc: Descriptor = { mediaType: MediaType.dockerLayerGzip, size, digest: diffId };
      descs.push(desc);
      layers.set(diffId, { desc, member, gzip });
    }
    const configDesc: Descriptor = { mediaType: MediaType.dockerConfig, size: configBytes.length, digest: sha256Digest(configBytes) };
    // Field order and compact form are those of skopeo's Go structs, so the digest is the same.
    const doc = {
      schemaVersion: 2,
      mediaType: MediaType.dockerManifest,
      config: { mediaType: configDesc.mediaType, size: configDesc.size, digest: configDesc.digest },
      layers: descs.map((d) => ({ mediaType: d.mediaType, size: d.size, digest: d.digest })),
    };
    const bytes = Buffer.from(JSON.stringify(doc));
    const manifest = { bytes, mediaType: MediaType.dockerManifest, digest: sha256Digest(bytes) };
    return new LegacyArchiveSource(name, files, manifest, { desc: configDesc, bytes: configBytes }, layers);
  }

  async getRootManifest(): Promise<FetchedManifest> {
    return this.manifest;
  }

  async getManifest(desc: Descriptor): Promise<FetchedManifest> {
    throw new WalkError("not_found", `${this.name} has no manifest ${desc.digest}: a docker save archive holds single-platform images`);
  }

  async openBlob(desc: Descriptor, offset: number): Promise<{ stream: Readable; offset: number }> {
    if (desc.digest === this.config.desc.digest) {
      const start = Math.min(offset, this.config.bytes.length);
      return { stream: Readable.from([this.config.bytes.subarray(start)]), offset: start };
    }
    const layer = this.layers.get(desc.digest);
    if (!layer) throw new WalkError("not_found", `${this.name} has no blob ${desc.digest}`, { details: { digest: desc.digest } });
    if (layer.gzip) {
      // A decompressed stream cannot seek: it starts over, and says so.
      return { stream: this.files.rangeOf(layer.member, 0, layer.member.size).pipe(createGunzip()), offset: 0 };
    }
    const start = Math.min(offset, layer.member.size);
    return { stream: this.files.rangeOf(layer.member, start, layer.member.size), offset: start };
  }

  close(): Promise<void> {
    return this.files.close();
  }
}

async function gunzippedSize(stream: Readable, what: string): Promise<number> {
  let n = 0;
  try {
    for await (const chunk of stream.pipe(createGunzip()) as AsyncIterable<Buffer>) n += chunk.length;
  } catch (err) {
    throw new WalkError("invalid_argument", `${what} is not valid gzip: ${(err as Error).message}`, { cause: err });
  }
  return n;
}

/**
 * Opens `docker-archive:PATH[:REF]`. REF is NAME[:TAG] (matched like docker, so "app" means
 * docker.io/library/app:latest) or @INDEX into manifest.json. Compressed tarballs are refused:
 * walk reads members in place, which needs the plain tar.
 */
export async function openDockerArchive(path: string, ref?: string): Promise<ImageSource> {
  const name = ref === undefined ? `docker-archive:${path}` : `docker-archive:${path}:${ref}`;
  let fh: FileHandle;
  try {
    fh = await fs.open(path, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new WalkError("not_found", `${name}: ${path} does not exist`);
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new WalkError("invalid_argument", `${name}: ${path} is not a regular file`);
    const head = Buffer.alloc(4);
    await fh.read(head, 0, 4, 0);
    const compression = sniffCompression(head);
    if (compression !== "none") {
      throw new WalkError("unsupported", `${name} is ${compression}-compressed; decompress it first (${compression === "gzip" ? "gunzip" : "unzstd"} ${path})`);
    }
    const files = new TarFiles(fh, await TarIndex.read(fh, name), name);
    if (files.member("index.json") && files.member("oci-layout")) {
      return await LayoutSource.open(files, name, (index) => {
        const byIndex = ref === undefined ? null : /^@(\d+)$/.exec(ref);
        if (byIndex) {
          const d = index.manifests[Number(byIndex[1])];
          if (!d) throw new WalkError("not_found", `${name} has no image at index ${byIndex[1]} (it holds ${index.manifests.length})`);
          return d;
        }
        const want = ref === undefined ? undefined : canonicalWanted(ref, name);
        return selectLayoutEntry(index, name, ref, (d) => {
          const n = d.annotations?.[IMAGE_NAME_ANNOTATION];
          return n !== undefined && canonical(n) === want;
        }, IMAGE_NAME_ANNOTATION);
      });
    }
    return await LegacyArchiveSource.open(files, name, ref);
  } catch (err) {
    await fh.close();
    throw err;
  }
}
