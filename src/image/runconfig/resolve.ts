// Resolving the runtime config of an app disk from the image config and the user's overrides:
// argv per the OCI conversion spec (Entrypoint ++ Cmd), env with "later wins", WORKDIR and USER.
// Everything is validated here, so encode.ts only has to lay bytes out. Names in the user spec
// are NOT resolved here: the guest resolves them against the image's own /etc/passwd.
import type { ImageConfig } from "../../oci/types.js";
import { WalkError } from "../../lib/errors.js";
import type { RuntimeConfig } from "./encode.js";

/** A value from JSON or the command line (UTF-8 encoded), or raw bytes. */
export type Bytes = string | Uint8Array;

export interface RunOverrides {
  /** Replaces the image's Entrypoint and clears its Cmd. An empty list clears the Entrypoint. */
  entrypoint?: Bytes[];
  /** Replaces the image's Cmd (`walk run IMAGE -- ARGS…`). */
  cmd?: Bytes[];
  /** `KEY=VALUE` entries applied after the image's Env, in order; a later key wins. */
  env?: Bytes[];
  /** Absolute directory the workload starts in; replaces the image's WorkingDir. */
  workdir?: Bytes;
  /** `user`, `uid`, `user:group`, `uid:gid`, `user:gid` or `uid:group`; replaces the image's User. */
  user?: Bytes;
}

/** Keys under this prefix carry walk's own config in /walk/env; nobody else may set them. */
export const RESERVED_ENV_PREFIX = "WALK_";
const MAX_PATH_BYTES = 4096;
const MAX_UID = 4294967294; // (uid_t)-1 means "no change" to the kernel

function bytes(v: Bytes): Buffer {
  return typeof v === "string" ? Buffer.from(v, "utf8") : Buffer.from(v);
}

function show(b: Buffer): string {
  return JSON.stringify(b.toString("utf8"));
}

function noNul(b: Buffer, what: string): Buffer {
  if (b.includes(0)) throw new WalkError("invalid_argument", `${what} ${show(b)} contains a NUL byte, which cannot be passed to a process`);
  return b;
}

function resolveArgv(image: NonNullable<ImageConfig["config"]>, o: RunOverrides): Buffer[] {
  const entrypoint = o.entrypoint ?? image.Entrypoint ?? [];
  const cmd = o.cmd ?? (o.entrypoint !== undefined ? [] : (image.Cmd ?? []));
  const argv = [...entrypoint, ...cmd].map((a, i) => noNul(bytes(a), `argument ${i}`));
  const first = argv[0];
  if (first === undefined) {
    throw new WalkError("invalid_argument", "the image has no Entrypoint or Cmd: pass --entrypoint or a command to run (walk run IMAGE -- COMMAND…)");
  }
  if (first.length === 0) throw new WalkError("invalid_argument", "the command to run (argv[0]) is empty: pass --entrypoint or a command");
  return argv;
}

function parseEnvEntry(raw: Bytes, source: string): [Buffer, Buffer] {
  const b = bytes(raw);
  const eq = b.indexOf(0x3d);
  const key = eq < 0 ? b : b.subarray(0, eq);
  if (eq < 0) throw new WalkError("invalid_argument", `${source} entry ${show(b)} is not KEY=VALUE`);
  if (key.length === 0) throw new WalkError("invalid_argument", `${source} entry ${show(b)} has an empty key`);
  noNul(b, `${source} entry`);
  if (key.toString("latin1").startsWith(RESERVED_ENV_PREFIX)) {
    throw new WalkError("invalid_argument", `${source} key ${show(key)} is reserved: keys starting with ${RESERVED_ENV_PREFIX} carry walk's own settings (use --workdir and --user)`);
  }
  return [key, b.subarray(eq + 1)];
}

function resolveEnv(image: NonNullable<ImageConfig["config"]>, o: RunOverrides): Array<[Buffer, Buffer]> {
  // A Map keeps first-insertion order, so an override of an image key stays where the image put it.
  const env = new Map<string, [Buffer, Buffer]>();
  const add = (raw: Bytes, source: string): void => {
    const kv = parseEnvEntry(raw, source);
    env.set(kv[0].toString("latin1"), kv);
  };
  for (const e of image.Env ?? []) add(e, "the image's Env");
  for (const e of o.env ?? []) add(e, "the env override");
  return [...env.values()];
}

function resolveWorkdir(image: NonNullable<ImageConfig["config"]>, o: RunOverrides): Buffer | undefined {
  const source = o.workdir !== undefined ? "--workdir" : "the image's WorkingDir";
  const raw = o.workdir ?? image.WorkingDir;
  if (raw === undefined) return undefined;
  const dir = noNul(bytes(raw), source);
  if (dir.length === 0 && o.workdir === undefined) return undefined; // "" in an image config means unset
  if (dir[0] !== 0x2f) throw new WalkError("invalid_argument", `${source} ${show(dir)} is not an absolute path`);
  if (dir.length > MAX_PATH_BYTES) throw new WalkError("invalid_argument", `${source} is longer than ${MAX_PATH_BYTES} bytes`);
  return dir;
}

const NAME = /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,255}\$?$/;
const NUMBER = /^[0-9]{1,10}$/;

function validUserPart(part: string): boolean {
  if (NUMBER.test(part)) return Number(part) <= MAX_UID;
  return NAME.test(part) && !/^[0-9]+\$?$/.test(part);
}

function resolveUser(image: NonNullable<ImageConfig["config"]>, o: RunOverrides): Buffer | undefined {
  const source = o.user !== undefined ? "--user" : "the image's User";
  const raw = o.user ?? image.User;
  if (raw === undefined) return undefined;
  const user = bytes(raw);
  if (user.length === 0 && o.user === undefined) return undefined; // "" in an image config means root
  const parts = user.toString("latin1").split(":");
  if (parts.length > 2 || !parts.every(validUserPart)) {
    throw new WalkError("invalid_argument", `${source} ${show(user)} is not a user spec: use user, uid, user:group or uid:gid (names of letters, digits, ".", "_", "-")`);
  }
  return user;
}

/** The runtime config of an app disk: the image config with the overrides applied. */
export function resolveRuntimeConfig(image: ImageConfig["config"] | undefined, overrides: RunOverrides = {}): RuntimeConfig {
  const img = image ?? {};
  const cfg: RuntimeConfig = { argv: resolveArgv(img, overrides), env: resolveEnv(img, overrides) };
  const workdir = resolveWorkdir(img, overrides);
  const user = resolveUser(img, overrides);
  if (workdir !== undefined) cfg.workdir = workdir;
  if (user !== undefined) cfg.user = user;
  return cfg;
}
