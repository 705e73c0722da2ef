// The byte encoding of /walk/argv and /walk/env (docs/guest-contract.md, format version 1) and the
// config id derived from those bytes. Pure functions over already-validated values: resolving and
// validating the runtime config is resolve.ts's job, reading these files back is the guest's.
import { createHash } from "node:crypto";
import { WalkError } from "../../lib/errors.js";

export const ARGV_MAGIC = "walk-argv-v1";
export const ENV_MAGIC = "walk-env-v1";
/** Limits of the contract: the init refuses bigger files, so the host never writes them. */
export const CONTRACT_MAX_FILE_BYTES = 1 << 20;
export const CONTRACT_MAX_FIELDS = 65_536;
/**
 * Version of the app disk as a whole (the /walk layout plus how layers are flattened). It is part
 * of every config id, so a change to the disk format never reuses a disk built by older code.
 */
export const APP_DISK_FORMAT_VERSION = 1;

/** The runtime config as the guest receives it. Every value is raw bytes. */
export interface RuntimeConfig {
  argv: Buffer[];
  /** Unique keys, in order. */
  env: Array<[key: Buffer, value: Buffer]>;
  /** Absolute path; absent means the guest's default ("/"), and no WALK_WORKDIR entry is written. */
  workdir?: Buffer;
  /** User spec; absent means root, and no WALK_USER entry is written. */
  user?: Buffer;
}

export interface EncodedRuntimeConfig {
  argv: Buffer;
  env: Buffer;
}

const NUL = Buffer.from([0]);

function encodeFields(magic: string, fields: Buffer[], file: string): Buffer {
  if (fields.length + 1 > CONTRACT_MAX_FIELDS) {
    throw new WalkError("size_exceeded", `${file} would have ${fields.length + 1} fields; the guest contract allows at most ${CONTRACT_MAX_FIELDS}`);
  }
  const parts: Buffer[] = [Buffer.from(magic, "latin1"), NUL];
  for (const f of fields) parts.push(f, NUL);
  const out = Buffer.concat(parts);
  if (out.length > CONTRACT_MAX_FILE_BYTES) {
    throw new WalkError("size_exceeded", `${file} would be ${out.length} bytes; the guest contract allows at most ${CONTRACT_MAX_FILE_BYTES}`);
  }
  return out;
}

function entry(key: string | Buffer, value: Buffer): Buffer {
  return Buffer.concat([Buffer.isBuffer(key) ? key : Buffer.from(key, "latin1"), Buffer.from("="), value]);
}

/** Encodes the config into the exact bytes of /walk/argv and /walk/env. */
export function encodeRuntimeConfig(cfg: RuntimeConfig): EncodedRuntimeConfig {
  const envFields = cfg.env.map(([k, v]) => entry(k, v));
  if (cfg.workdir !== undefined) envFields.push(entry("WALK_WORKDIR", cfg.workdir));
  if (cfg.user !== undefined) envFields.push(entry("WALK_USER", cfg.user));
  return { argv: encodeFields(ARGV_MAGIC, cfg.argv, "/walk/argv"), env: encodeFields(ENV_MAGIC, envFields, "/walk/env") };
}

/**
 * A stable id of an encoded runtime config: the first 16 hex digits of a sha256 over the disk
 * format version and both files, each length-prefixed so no two configs share an input.
 */
export function configIdOf(encoded: EncodedRuntimeConfig): string {
  const h = createHash("sha256");
  h.update(`walk-app-disk-v${APP_DISK_FORMAT_VERSION}\0`);
  for (const file of [encoded.argv, encoded.env]) {
    h.update(`${file.length}\0`);
    h.update(file);
  }
  return h.digest("hex").slice(0, 16);
}
