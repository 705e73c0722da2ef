// Opening the ImageSource a parsed reference names, with the daemon's registry policy and the
// credentials that came with the request (which win over none; they are never stored).
import type { Logger } from "../lib/index.js";
import { openOciLayout } from "./layout.js";
import { openDockerArchive } from "./docker-archive.js";
import type { ImageReference } from "./reference.js";
import type { ImageSource } from "./types.js";
import { RegistryClient, RegistrySource, type Credentials, type RegistryClientOptions } from "./registry/index.js";

export interface RegistryOptions {
  insecure: readonly string[];
  certsDirs: readonly string[];
  allowLocalhostHttp: boolean;
  trustedTokenRealms: Readonly<Record<string, readonly string[]>>;
}

export interface OpenSourceOptions extends RegistryOptions {
  log: Logger;
  /** Credentials for this request only, as the API received them. */
  credentials?: { username?: string; password?: string; identity_token?: string } | undefined;
}

export async function openSource(ref: ImageReference, opts: OpenSourceOptions): Promise<ImageSource> {
  switch (ref.kind) {
    case "registry":
      return new RegistrySource(ref, clientOptions(ref.registry, opts));
    case "oci-layout":
      return openOciLayout(ref.path, ref.tag);
    case "docker-archive":
      return openDockerArchive(ref.path, ref.image);
  }
}

/**
 * Checks that `registry` answers and accepts the request's credentials, for `walk login`. Throws
 * unauthorized when they are rejected.
 */
export async function verifyRegistryLogin(registry: string, opts: OpenSourceOptions): Promise<void> {
  const client = new RegistryClient(registry, clientOptions(registry, opts));
  try {
    await client.login();
  } finally {
    await client.close();
  }
}

/** Client options from the daemon's policy; the credentials go to `registry` and nowhere else. */
function clientOptions(registry: string, opts: OpenSourceOptions): RegistryClientOptions {
  const creds = toCredentials(opts.credentials);
  return {
    insecureRegistries: opts.insecure,
    allowLoopbackPlainHttp: opts.allowLocalhostHttp,
    certsDirs: opts.certsDirs,
    trustedTokenRealms: opts.trustedTokenRealms,
    logger: opts.log,
    credentials: async (r) => (r === registry ? creds : undefined),
  };
}

function toCredentials(c: OpenSourceOptions["credentials"]): Credentials | undefined {
  if (!c) return undefined;
  if (c.identity_token !== undefined) return { username: c.username ?? "<token>", identityToken: c.identity_token };
  if (c.username !== undefined) return { username: c.username, ...(c.password !== undefined ? { password: c.password } : {}) };
  return undefined;
}
