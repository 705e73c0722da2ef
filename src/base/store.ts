// Installed guest bases under <dataDir>/base: base/<version>/{vmlinux,bzImage,rootfs.ext4,
// firecracker,manifest.json} and base/default (the default version's name). Installs are atomic
// (a temp dir renamed into place) and idempotent (same content, same version). Owns this
// directory only; building and importing artifacts is build.ts's and import.ts's job.
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, promises as fs, constants as fsConstants } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { Transform } from "node:stream";
import { TEMP_PREFIX, fsyncDir, writeFileAtomic } from "../lib/atomic.js";
import { WalkError } from "../lib/errors.js";
import { newId } from "../lib/ids.js";
import { BASE_FILES, MANIFEST_FORMAT, isValidBaseVersion, parseManifest, type BaseFile, type BaseManifest, type FileDigest } from "./manifest.js";

const MANIFEST_MAX_BYTES = 64 * 1024;

export interface BasePaths {
  vmlinux?: string;
  bzImage?: string;
  rootfs: string;
  firecracker?: string;
}

export interface BaseEntry {
  version: string;
  dir: string;
  isDefault: boolean;
  /** Absent when the manifest cannot be read; `problem` says why. */
  manifest?: BaseManifest;
  paths?: BasePaths;
  problem?: string;
}

export interface InstallInput {
  /** Source path of each file to install. */
  files: Partial<Record<BaseFile, string>>;
  origin: BaseManifest["origin"];
  kernelSource: string | null;
  configSha256: string | null;
  /** Version prefix, e.g. the kernel source version; the content hash is appended. */
  label: string;
  /** Make it the default base (the first base installed always becomes the default). */
  makeDefault?: boolean;
}

export function baseRoot(dataDir: string): string {
  return join(dataDir, "base");
}

/** sha256 and size of a file, streamed. */
export async function digestFile(path: string): Promise<FileDigest> {
  const h = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    h.update(chunk);
    size += chunk.length;
  }
  return { sha256: h.digest("hex"), size };
}

/** Copies src to dst (new file), fsyncs it and returns the digest of the bytes written. */
async function copyHashed(src: string, dst: string, mode: number): Promise<FileDigest> {
  const h = createHash("sha256");
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  await pipeline(createReadStream(src), tap, createWriteStream(dst, { flags: "wx", mode }));
  const fh = await fs.open(dst, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.chmod(dst, mode);
  return { sha256: h.digest("hex"), size };
}

function pathsOf(dir: string, m: BaseManifest): BasePaths {
  const p: BasePaths = { rootfs: join(dir, "rootfs.ext4") };
  if (m.files.vmlinux) p.vmlinux = join(dir, "vmlinux");
  if (m.files.bzImage) p.bzImage = join(dir, "bzImage");
  if (m.files.firecracker) p.firecracker = join(dir, "firecracker");
  return p;
}

async function readManifest(dir: string): Promise<BaseManifest> {
  const file = join(dir, "manifest.json");
  const fh = await fs.open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  try {
    const buf = Buffer.alloc(MANIFEST_MAX_BYTES + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    if (bytesRead > MANIFEST_MAX_BYTES) throw new WalkError("size_exceeded", `${file} is larger than ${MANIFEST_MAX_BYTES} bytes`);
    let json: unknown;
    try {
      json = JSON.parse(buf.subarray(0, bytesRead).toString("utf8"));
    } catch (e) {
      throw new WalkError("unprocessable", `${file} is not valid JSON`, { cause: e });
    }
    return parseManifest(json, file);
  } finally {
    await fh.close();
  }
}

export async function getDefaultBase(dataDir: string): Promise<string | undefined> {
  try {
    const v = (await fs.readFile(join(baseRoot(dataDir), "default"), "utf8")).trim();
    return isValidBaseVersion(v) ? v : undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

export async function setDefaultBase(dataDir: string, version: string): Promise<void> {
  const entry = await resolveBase(dataDir, version);
  await writeFileAtomic(join(baseRoot(dataDir), "default"), `${entry.version}\n`);
}

/** Every installed base, oldest first, with the default marked. Broken ones carry `problem`. */
export async function listBases(dataDir: string): Promise<BaseEntry[]> {
  const root = baseRoot(dataDir);
  let names: string[];
  try {
    names = await fs.readdir(root);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const def = await getDefaultBase(dataDir);
  const out: BaseEntry[] = [];
  for (const name of names.sort()) {
    if (name.startsWith(TEMP_PREFIX) || !isValidBaseVersion(name)) continue;
    const dir = join(root, name);
    const st = await fs.lstat(dir);
    if (!st.isDirectory()) continue;
    const entry: BaseEntry = { version: name, dir, isDefault: name === def };
    try {
      entry.manifest = await readManifest(dir);
      if (entry.manifest.version !== name) throw new WalkError("unprocessable", `manifest names version ${entry.manifest.version}`);
      entry.paths = pathsOf(dir, entry.manifest);
    } catch (e) {
      entry.problem = e instanceof Error ? e.message : String(e);
    }
    out.push(entry);
  }
  return out.sort((a, b) => (a.manifest?.created ?? "").localeCompare(b.manifest?.created ?? ""));
}

/** The named base, or the default one. Throws not_found with what to do about it. */
export async function resolveBase(dataDir: string, version?: string): Promise<BaseEntry & { manifest: BaseManifest; paths: BasePaths }> {
  const want = version ?? (await getDefaultBase(dataDir));
  if (want === undefined) throw new WalkError("not_found", "no guest base is installed: run `walk base build` or `walk base import --kernel PATH`");
  if (!isValidBaseVersion(want)) throw new WalkError("invalid_argument", `${JSON.stringify(want)} is not a base version`);
  const entry = (await listBases(dataDir)).find((b) => b.version === want);
  if (!entry) throw new WalkError("not_found", `guest base ${want} is not installed (see \`walk base ls\`)`);
  if (!entry.manifest || !entry.paths) throw new WalkError("unprocessable", `guest base ${want} is broken: ${entry.problem}`);
  return { ...entry, manifest: entry.manifest, paths: entry.paths };
}

/** Re-hashes every file of a base against its manifest. */
export async function verifyBase(dataDir: string, version: string): Promise<void> {
  const b = await resolveBase(dataDir, version);
  for (const [name, want] of Object.entries(b.manifest.files)) {
    const got = await digestFile(join(b.dir, name));
    if (got.sha256 !== want.sha256 || got.size !== want.size) {
      throw new WalkError("digest_mismatch", `guest base ${version}: ${name} does not match its manifest (sha256 ${got.sha256}, expected ${want.sha256})`);
    }
  }
}

/** Copies files into a new base atomically; an identical base already installed is reused. */
export async function installBase(dataDir: string, input: InstallInput): Promise<BaseEntry> {
  const root = baseRoot(dataDir);
  await fs.mkdir(root, { recursive: true });
  const tmp = join(root, `${TEMP_PREFIX}${newId()}`);
  await fs.mkdir(tmp);
  try {
    const files: Partial<Record<BaseFile, FileDigest>> = {};
    for (const name of BASE_FILES) {
      const src = input.files[name];
      if (src === undefined) continue;
      const mode = name === "firecracker" || name === "vmlinux" ? 0o755 : 0o644;
      files[name] = await copyHashed(src, join(tmp, name), name === "rootfs.ext4" ? 0o444 : mode);
      const again = await digestFile(join(tmp, name));
      if (again.sha256 !== files[name].sha256) throw new WalkError("digest_mismatch", `the copy of ${src} does not read back as written`);
    }
    const contentHash = createHash("sha256")
      .update(Object.entries(files).map(([n, d]) => `${n}:${d.sha256}\n`).join(""))
      .digest("hex")
      .slice(0, 12);
    const version = `${input.label}-${contentHash}`;
    if (!isValidBaseVersion(version)) throw new WalkError("invalid_argument", `${JSON.stringify(version)} is not a valid base version`);
    const manifest: BaseManifest = {
      format: MANIFEST_FORMAT,
      version,
      origin: input.origin,
      kernelSource: input.kernelSource,
      configSha256: input.configSha256,
      files,
      created: new Date().toISOString(),
    };
    parseManifest(manifest, "new manifest");
    await writeFileAtomic(join(tmp, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
    await fsyncDir(tmp);

    const final = join(root, version);
    const existing = await readManifest(final).catch(() => undefined);
    const intact = existing !== undefined && (await verifyBase(dataDir, version).then(() => true, () => false));
    if (intact) {
      await fs.rm(tmp, { recursive: true, force: true });
    } else {
      await fs.rm(final, { recursive: true, force: true }); // a damaged copy of the same content
      await fs.rename(tmp, final);
      await fsyncDir(root);
    }
    if (input.makeDefault || (await getDefaultBase(dataDir)) === undefined) await setDefaultBase(dataDir, version);
    return await resolveBase(dataDir, version);
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
