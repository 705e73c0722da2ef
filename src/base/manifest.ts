// manifest.json of an installed base (base/<version>/manifest.json): what the base is made of
// and the sha256 of every file, so a base can be verified before a VM boots from it.
// Owns the format and its validation; reading and writing files is store.ts's job.
import { WalkError } from "../lib/errors.js";

export const MANIFEST_FORMAT = 1;

/** Files a base may hold. A base has rootfs.ext4 and at least one of vmlinux and bzImage. */
export const BASE_FILES = ["vmlinux", "bzImage", "rootfs.ext4", "firecracker"] as const;
export type BaseFile = (typeof BASE_FILES)[number];

export interface FileDigest {
  sha256: string;
  size: number;
}

export interface BaseManifest {
  format: typeof MANIFEST_FORMAT;
  version: string;
  /** "build": walk base build; "import": walk base import. */
  origin: "build" | "import";
  /** e.g. "linux-source-6.1 6.1.192-3"; null for imported kernels. */
  kernelSource: string | null;
  /** sha256 of the kernel's final .config; null for imported kernels. */
  configSha256: string | null;
  files: Partial<Record<BaseFile, FileDigest>>;
  /** ISO 8601. */
  created: string;
}

const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const HEX64 = /^[0-9a-f]{64}$/;

export function isValidBaseVersion(v: string): boolean {
  return VERSION_RE.test(v) && v !== "default";
}

function invalid(what: string, why: string): never {
  throw new WalkError("unprocessable", `base manifest ${what} is invalid: ${why}`);
}

/** Validates a parsed manifest.json; `where` names it in errors. */
export function parseManifest(json: unknown, where: string): BaseManifest {
  if (typeof json !== "object" || json === null) invalid(where, "not an object");
  const m = json as Record<string, unknown>;
  if (m.format !== MANIFEST_FORMAT) invalid(where, `format is not ${MANIFEST_FORMAT}`);
  if (typeof m.version !== "string" || !isValidBaseVersion(m.version)) invalid(where, "bad version");
  if (m.origin !== "build" && m.origin !== "import") invalid(where, "bad origin");
  for (const k of ["kernelSource", "configSha256"] as const) {
    if (m[k] !== null && typeof m[k] !== "string") invalid(where, `bad ${k}`);
  }
  if (typeof m.created !== "string" || Number.isNaN(Date.parse(m.created))) invalid(where, "bad created");
  if (typeof m.files !== "object" || m.files === null) invalid(where, "no files");
  const files: Partial<Record<BaseFile, FileDigest>> = {};
  for (const [name, d] of Object.entries(m.files as Record<string, unknown>)) {
    if (!(BASE_FILES as readonly string[]).includes(name)) invalid(where, `unknown file ${name}`);
    const fd = d as Record<string, unknown> | null;
    if (!fd || typeof fd.sha256 !== "string" || !HEX64.test(fd.sha256) || !Number.isSafeInteger(fd.size) || (fd.size as number) < 0) {
      invalid(where, `bad digest for ${name}`);
    }
    files[name as BaseFile] = { sha256: fd.sha256, size: fd.size as number };
  }
  if (!files["rootfs.ext4"] || (!files.vmlinux && !files.bzImage)) invalid(where, "needs rootfs.ext4 and vmlinux or bzImage");
  return {
    format: MANIFEST_FORMAT,
    version: m.version,
    origin: m.origin,
    kernelSource: m.kernelSource as string | null,
    configSha256: m.configSha256 as string | null,
    files,
    created: m.created,
  };
}
