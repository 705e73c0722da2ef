// The OCI image layout as a pull source (`oci:PATH[:TAG]`): the oci-layout version file,
// index.json, and blobs/sha256/<hex>. Reading goes through LayoutFiles so the same source serves a
// layout directory and the layout inside a Docker 25+ `docker save` tarball. A layout is user
// input: blob paths are built only from validated digests, every read is bounded, and in a
// directory symlinks are not followed (blobs must be regular files). Nothing here writes.
import { constants as fsConstants, promises as fs } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { WalkError } from "../lib/errors.js";
import { readBounded } from "../lib/bounded.js";
import type { Descriptor, FetchedManifest, ImageIndex, ImageSource } from "./types.js";
import { MAX_MANIFEST_BYTES, parseDigest, parseManifestOrIndex, verifyBytes } from "./manifest.js";

export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";
const LAYOUT_FILE_LIMIT = 4096;

/** Read access to the files of a layout, wherever they are kept. Paths are relative, "/"-separated. */
export interface LayoutFiles {
  /** Names the container in messages: "oci:/srv/img", "docker-archive:/tmp/x.tar". */
  readonly name: string;
  /** The size of a regular file, or undefined when there is none at `path`. */
  size(path: string): Promise<number | undefined>;
  /** A whole file of at most `limit` bytes (size_exceeded beyond), or undefined when missing. */
  readFile(path: string, limit: number): Promise<Buffer | undefined>;
  /** Bytes [start, end) of a regular file. */
  openRange(path: string, start: number, end: number): Promise<Readable>;
  /** Releases what the files are read from (a tarball's handle); closing the source calls it. */
  close?(): Promise<void>;
}

function blobPath(digest: string): string {
  return `blobs/sha256/${parseDigest(digest, "blob digest").hex}`;
}

/** The ref names index.json lists, for messages. */
function refNames(index: ImageIndex, annotation: string): string[] {
  return [...new Set(index.manifests.map((d) => d.annotations?.[annotation]).filter((t): t is string => t !== undefined))];
}

/**
 * Chooses the index.json entry a layout reference names: the one whose `annotation` is `tag`, or
 * with no tag the only entry. Several candidates (of different digests) are an error that lists
 * the names to choose from.
 */
export function selectLayoutEntry(index: ImageIndex, name: string, tag: string | undefined, matches: (d: Descriptor) => boolean, annotation = REF_NAME_ANNOTATION): Descriptor {
  const names = refNames(index, annotation);
  const listed = names.length > 0 ? `; it has: ${names.join(", ")}` : "; it has no named images";
  if (tag === undefined) {
    const [only, ...more] = index.manifests;
    if (!only) throw new WalkError("not_found", `${name} holds no images`);
    if (more.some((d) => d.digest !== only.digest)) {
      throw new WalkError("invalid_argument", `${name} holds ${index.manifests.length} images; name one${listed}`, { details: { available: names } });
    }
    return only;
  }
  const found = index.manifests.filter(matches);
  const [first] = found;
  if (!first) throw new WalkError("not_found", `${name} has no image named ${JSON.stringify(tag)}${listed}`, { details: { available: names } });
  if (found.some((d) => d.digest !== first.digest)) {
    throw new WalkError("invalid_argument", `${name} lists ${found.length} different images named ${JSON.stringify(tag)}; refusing to guess`);
  }
  return first;
}

/** An ImageSource over the files of an OCI image layout. */
export class LayoutSource implements ImageSource {
  readonly name: string;
  private readonly files: LayoutFiles;
  private readonly root: Descriptor;

  private constructor(name: string, files: LayoutFiles, root: Descriptor) {
    this.name = name;
    this.files = files;
    this.root = root;
  }

  /** Reads oci-layout and index.json and picks the root entry with `select`. */
  static async open(files: LayoutFiles, name: string, select: (index: ImageIndex) => Descriptor): Promise<LayoutSource> {
    const index = await readLayoutIndex(files);
    return new LayoutSource(name, files, select(index));
  }

  private async readDocument(desc: Descriptor, what: string): Promise<FetchedManifest> {
    if (desc.size > MAX_MANIFEST_BYTES) {
      throw new WalkError("size_exceeded", `${what} ${desc.digest} declares ${desc.size} bytes, larger than the limit of ${MAX_MANIFEST_BYTES}`, { details: { limit: MAX_MANIFEST_BYTES } });
    }
    const bytes = await this.files.readFile(blobPath(desc.digest), desc.size);
    if (bytes === undefined) throw new WalkError("not_found", `${this.files.name} has no blob ${desc.digest} (${what})`, { details: { digest: desc.digest } });
    verifyBytes(bytes, desc, what);
    return { bytes, mediaType: desc.mediaType, digest: desc.digest };
  }

  getRootManifest(): Promise<FetchedManifest> {
    return this.readDocument(this.root, `manifest of ${this.name}`);
  }

  getManifest(desc: Descriptor): Promise<FetchedManifest> {
    return this.readDocument(desc, `manifest of ${this.name}`);
  }

  async openBlob(desc: Descriptor, offset: number): Promise<{ stream: Readable; offset: number }> {
    const path = blobPath(desc.digest);
    const size = await this.files.size(path);
    if (size === undefined) throw new WalkError("not_found", `${this.files.name} has no blob ${desc.digest}`, { details: { digest: desc.digest } });
    if (size > desc.size) {
      throw new WalkError("size_exceeded", `blob ${desc.digest} in ${this.files.name} is ${size} bytes, larger than the ${desc.size} declared`, { details: { digest: desc.digest, size: desc.size, actual: size } });
    }
    if (size < desc.size) {
      throw new WalkError("digest_mismatch", `blob ${desc.digest} in ${this.files.name} is truncated: ${size} of ${desc.size} declared bytes`, { details: { digest: desc.digest, size: desc.size, actual: size } });
    }
    const start = Math.min(Math.max(0, offset), desc.size);
    return { stream: await this.files.openRange(path, start, desc.size), offset: start };
  }

  async close(): Promise<void> {
    await this.files.close?.();
  }
}

/** Checks the oci-layout version file and returns the parsed index.json. */
async function readLayoutIndex(files: LayoutFiles): Promise<ImageIndex> {
  const marker = await files.readFile("oci-layout", LAYOUT_FILE_LIMIT);
  if (marker === undefined) throw new WalkError("invalid_argument", `${files.name} is not an OCI image layout: it has no oci-layout file`);
  let version: unknown;
  try {
    version = (JSON.parse(marker.toString("utf8")) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch (err) {
    throw new WalkError("invalid_argument", `${files.name}: oci-layout is not valid JSON`, { cause: err });
  }
  if (typeof version !== "string" || !/^1\.\d+\.\d+$/.test(version)) {
    throw new WalkError("unsupported", `${files.name} has OCI layout version ${JSON.stringify(version)}; walk reads version 1.x`);
  }
  const bytes = await files.readFile("index.json", MAX_MANIFEST_BYTES);
  if (bytes === undefined) throw new WalkError("invalid_argument", `${files.name} is not an OCI image layout: it has no index.json`);
  const parsed = parseManifestOrIndex(bytes, "", `index.json of ${files.name}`);
  if (parsed.kind !== "index") throw new WalkError("invalid_argument", `index.json of ${files.name} is an image manifest, not an index`);
  return parsed.index;
}

/** LayoutFiles over a directory, refusing symlinks and anything but regular files. */
export class DirectoryFiles implements LayoutFiles {
  readonly name: string;
  private readonly dir: string;

  constructor(dir: string, name: string) {
    this.dir = dir;
    this.name = name;
  }

  /** Checks that `dir` is a directory whose blobs/ and blobs/sha256/ are real directories. */
  async check(): Promise<void> {
    const st = await fs.stat(this.dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") throw new WalkError("not_found", `${this.name}: directory ${this.dir} does not exist`);
      throw err;
    });
    if (!st.isDirectory()) throw new WalkError("invalid_argument", `${this.name}: ${this.dir} is not a directory`);
    for (const sub of ["blobs", "blobs/sha256"]) {
      const s = await fs.lstat(join(this.dir, sub)).catch(() => undefined);
      if (s && !s.isDirectory()) throw new WalkError("invalid_argument", `${this.name}: ${sub} is not a directory (symlinks are not followed)`);
    }
  }

  private async openRegular(path: string): Promise<FileHandle | undefined> {
    let fh: FileHandle;
    try {
      fh = await fs.open(join(this.dir, path), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return undefined;
      if (code === "ELOOP") throw new WalkError("invalid_argument", `${this.name}: ${path} is a symlink; walk does not follow symlinks in a layout`);
      throw err;
    }
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw new WalkError("invalid_argument", `${this.name}: ${path} is not a regular file`);
    }
    return fh;
  }

  async size(path: string): Promise<number | undefined> {
    const fh = await this.openRegular(path);
    if (!fh) return undefined;
    try {
      return (await fh.stat()).size;
    } finally {
      await fh.close();
    }
  }

  async readFile(path: string, limit: number): Promise<Buffer | undefined> {
    const fh = await this.openRegular(path);
    if (!fh) return undefined;
    try {
      return await readBounded(fh.createReadStream({ autoClose: false }), limit, `${path} in ${this.name}`);
    } finally {
      await fh.close();
    }
  }

  async openRange(path: string, start: number, end: number): Promise<Readable> {
    const fh = await this.openRegular(path);
    if (!fh) throw new WalkError("not_found", `${this.name}: ${path} disappeared`);
    if (end <= start) {
      await fh.close();
      return Readable.from([]);
    }
    return fh.createReadStream({ start, end: end - 1 });
  }
}

/** Opens `oci:PATH[:TAG]`: TAG selects by org.opencontainers.image.ref.name. */
export async function openOciLayout(path: string, tag?: string): Promise<ImageSource> {
  const name = tag === undefined ? `oci:${path}` : `oci:${path}:${tag}`;
  const files = new DirectoryFiles(path, `oci:${path}`);
  await files.check();
  return LayoutSource.open(files, name, (index) => selectLayoutEntry(index, `oci:${path}`, tag, (d) => d.annotations?.[REF_NAME_ANNOTATION] === tag));
}
