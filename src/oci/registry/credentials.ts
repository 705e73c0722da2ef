// Registry credentials from docker-style config files (~/.docker/config.json): `auths` entries
// (base64 "user:pass" or an identity token), `credHelpers` per registry and `credsStore`, through
// docker-credential-* helpers. Also the writer `walk login` uses. Docker Hub is known by several
// keys (https://index.docker.io/v1/, docker.io, ...) and all of them match. Never logs a secret.
import { promises as fs, createReadStream } from "node:fs";
import { dirname, join } from "node:path";
import { homedir } from "node:os";
import { WalkError } from "../../lib/errors.js";
import { readBounded } from "../../lib/bounded.js";
import { writeFileAtomic } from "../../lib/atomic.js";
import { isDockerHub } from "../reference.js";
import { helperErase, helperGet, helperStore } from "./cred-helper.js";

export interface Credentials {
  username: string;
  password?: string;
  /** An OAuth2 refresh token (docker's `identitytoken`), used instead of a password. */
  identityToken?: string;
}

/** Looks up credentials for a canonical registry name ("docker.io", "ghcr.io", "localhost:5000"). */
export type CredentialsResolver = (registry: string) => Promise<Credentials | undefined>;

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

interface DockerConfig {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [other: string]: unknown;
}

/** The key docker itself uses for Docker Hub in config files and helpers. */
export const DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/";
const CONFIG_LIMIT = 1 << 20;

/** $DOCKER_CONFIG/config.json, else ~/.docker/config.json. */
export function defaultDockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG ?? join(homedir(), ".docker"), "config.json");
}

/** The host part of a config key: "https://host:5000/v1/" -> "host:5000"; Hub aliases -> "docker.io". */
function keyHost(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, "").split("/")[0]?.toLowerCase() ?? "";
  return isDockerHub(host) ? "docker.io" : host;
}

/** The server URL to store and ask helpers under: docker's Hub key, else the registry host. */
function serverUrlFor(registry: string): string {
  return isDockerHub(registry) ? DOCKER_HUB_CONFIG_KEY : registry;
}

async function readConfig(path: string): Promise<DockerConfig | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readBounded(createReadStream(path), CONFIG_LIMIT, `docker config ${path}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    const parsed = JSON.parse(bytes.toString("utf8")) as unknown;
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
    return parsed as DockerConfig;
  } catch (err) {
    throw new WalkError("invalid_argument", `docker config ${path} is not a JSON object: ${(err as Error).message}`, { cause: err });
  }
}

function findEntry<T>(map: Record<string, T> | undefined, registry: string): [string, T] | undefined {
  if (map === undefined || typeof map !== "object") return undefined;
  const want = keyHost(registry);
  return Object.entries(map).find(([key]) => keyHost(key) === want);
}

function decodeEntry(entry: AuthEntry, registry: string, path: string): Credentials | undefined {
  let username = entry.username ?? "";
  let password = entry.password;
  if (typeof entry.auth === "string" && entry.auth !== "") {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon === -1) throw new WalkError("invalid_argument", `docker config ${path}: the auth entry for ${registry} is not base64 of user:password`);
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  if (typeof entry.identitytoken === "string" && entry.identitytoken !== "") return { username, identityToken: entry.identitytoken };
  if (password === undefined || password === "") return undefined;
  return { username, password };
}

export interface DockerConfigOptions {
  /** Config files in order of preference; the first that exists is used. */
  paths?: string[];
  /** Environment for helpers (PATH); default process.env. */
  env?: NodeJS.ProcessEnv;
}

/**
 * A resolver reading docker config files on every lookup (so a `walk login` takes effect at once).
 * credHelpers for the registry come first, then credsStore, then the file's own `auths`.
 */
export function dockerConfigCredentials(options: DockerConfigOptions = {}): CredentialsResolver {
  const paths = options.paths ?? [defaultDockerConfigPath(options.env)];
  return async (registry) => {
    for (const path of paths) {
      const config = await readConfig(path);
      if (config === undefined) continue;
      const helper = findEntry(config.credHelpers, registry)?.[1] ?? config.credsStore;
      if (typeof helper === "string" && helper !== "") {
        const fromHelper = await helperGet(helper, serverUrlFor(registry), options.env);
        if (fromHelper !== undefined) return fromHelper;
      }
      const entry = findEntry(config.auths, registry);
      return entry === undefined ? undefined : decodeEntry(entry[1], registry, path);
    }
    return undefined;
  };
}

/**
 * Stores credentials for `registry` the way `docker login` does: through the configured helper
 * when there is one (leaving an empty marker in `auths`), else base64 in `auths`. The file is
 * written atomically with mode 0600, keeping every other setting in it.
 */
export async function storeCredentials(configPath: string, registry: string, creds: { username: string; password: string }, env?: NodeJS.ProcessEnv): Promise<void> {
  if (creds.username.includes(":")) throw new WalkError("invalid_argument", "a registry username cannot contain ':'");
  const config = (await readConfig(configPath)) ?? {};
  const serverUrl = serverUrlFor(registry);
  const auths = removeEntry(config.auths, registry);
  const helper = findEntry(config.credHelpers, registry)?.[1] ?? config.credsStore;
  if (typeof helper === "string" && helper !== "") {
    await helperStore(helper, serverUrl, creds, env);
    auths[serverUrl] = {};
  } else {
    auths[serverUrl] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString("base64") };
  }
  await writeConfig(configPath, { ...config, auths });
}

/** Removes stored credentials for `registry` (walk logout). */
export async function eraseCredentials(configPath: string, registry: string, env?: NodeJS.ProcessEnv): Promise<void> {
  const config = await readConfig(configPath);
  if (config === undefined) return;
  const helper = findEntry(config.credHelpers, registry)?.[1] ?? config.credsStore;
  if (typeof helper === "string" && helper !== "") await helperErase(helper, serverUrlFor(registry), env);
  await writeConfig(configPath, { ...config, auths: removeEntry(config.auths, registry) });
}

function removeEntry(auths: Record<string, AuthEntry> | undefined, registry: string): Record<string, AuthEntry> {
  const want = keyHost(registry);
  return Object.fromEntries(Object.entries(auths ?? {}).filter(([key]) => keyHost(key) !== want));
}

async function writeConfig(path: string, config: DockerConfig): Promise<void> {
  await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, `${JSON.stringify(config, null, 2)}\n`, 0o600);
}
