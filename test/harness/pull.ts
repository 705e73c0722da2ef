// Test harness: pulling with walk and with skopeo side by side. Opens walk's RegistrySource for
// a harness registry (loopback plain HTTP allowed, the harness CA via its certs dir, the token
// service trusted with credentials), pulls into a fresh content store, and copies the same image
// with skopeo so tests can compare manifest and blob digests.
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execChecked } from "../../src/lib/exec.js";
import { parseRegistryReference } from "../../src/oci/reference.js";
import { RegistrySource, type Credentials, type RegistrySourceOptions } from "../../src/oci/registry/index.js";
import { pullImage, type PullOptions, type PullResult } from "../../src/image/pull.js";
import { BlobStore } from "../../src/image/store/index.js";
import type { ImageSource, Platform } from "../../src/oci/types.js";
import { sha256 } from "../fixtures/images.js";
import type { RunningRegistry } from "./registry.js";

export interface SourceOptions {
  /** Credentials to present; default the registry's good ones (none for "plain"). null: none. */
  credentials?: Credentials | null;
  /** Use the harness CA (default true). */
  trustCa?: boolean;
  /** Passed through to RegistrySource, e.g. `now` or `retry`. */
  extra?: Partial<RegistrySourceOptions>;
}

/** walk's RegistrySource for `repoRef` ("repo:tag" or "repo@digest") on the harness registry. */
export function registrySource(reg: RunningRegistry, repoRef: string, opts: SourceOptions = {}): RegistrySource {
  const ref = parseRegistryReference(`${reg.host}/${repoRef}`);
  const creds = opts.credentials === null ? undefined : (opts.credentials ?? reg.credentials);
  const tokenHost = reg.tokenService ? new URL(reg.tokenService.realm).host : undefined;
  return new RegistrySource(ref, {
    allowLoopbackPlainHttp: true,
    certsDirs: opts.trustCa === false || !reg.certsDir ? [] : [reg.certsDir],
    ...(tokenHost ? { trustedTokenRealms: { [reg.host]: [tokenHost] } } : {}),
    credentials: async (registry) => (registry === reg.host ? creds : undefined),
    retry: { attempts: 1 },
    ...opts.extra,
  });
}

export interface WalkPull {
  result: PullResult;
  store: BlobStore;
  /** Digests of every blob in the store afterwards, sorted. */
  stored: string[];
  cleanup: () => Promise<void>;
}

export interface FreshStore {
  store: BlobStore;
  /** Digests of every blob in the store now, sorted. */
  digests: () => Promise<string[]>;
  cleanup: () => Promise<void>;
}

/** An empty content store in a temp dir. */
export async function openFreshStore(): Promise<FreshStore> {
  const dir = await mkdtemp(join(tmpdir(), "walk-pull-it-"));
  const store = await BlobStore.open(dir);
  return {
    store,
    digests: async () => (await store.list()).map((b) => b.digest).sort(),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Pulls `source` into a fresh content store. Closes the source; removes the store on failure. */
export async function pullIntoFreshStore(source: ImageSource, opts: Omit<PullOptions, "source" | "store"> = {}): Promise<WalkPull> {
  const fresh = await openFreshStore();
  try {
    const result = await pullImage({ source, store: fresh.store, ...opts });
    return { result, store: fresh.store, stored: await fresh.digests(), cleanup: fresh.cleanup };
  } catch (err) {
    await fresh.cleanup();
    throw err;
  } finally {
    await source.close();
  }
}

export interface SkopeoCopy {
  /** Digest of the (platform) manifest skopeo wrote. */
  manifestDigest: string;
  /** Digests of every blob skopeo wrote (config and layers; for oci: also the manifest), sorted. */
  blobs: string[];
}

function platformFlags(platform?: Platform): string[] {
  const flags: string[] = [];
  if (platform) {
    flags.push("--override-os", platform.os, "--override-arch", platform.architecture);
    if (platform.variant) flags.push("--override-variant", platform.variant);
  }
  return flags;
}

function skopeoCopyFlags(reg: RunningRegistry): string[] {
  const flags = ["--retry-times", "0"];
  if (reg.certsDir) flags.push("--src-cert-dir", join(reg.certsDir, reg.host));
  else flags.push("--src-tls-verify=false");
  if (reg.credentials) flags.push("--src-creds", `${reg.credentials.username}:${reg.credentials.password}`);
  return flags;
}

/**
 * Copies `repoRef` from the harness registry with skopeo into a temp dir and reports digests.
 * "oci" writes an OCI layout with digests preserved (so it cannot take Docker manifests); "dir"
 * keeps any manifest as served, which is what a Docker schema-2 comparison needs.
 */
export async function skopeoCopy(reg: RunningRegistry, repoRef: string, dest: "oci" | "dir", platform?: Platform): Promise<SkopeoCopy> {
  const dir = await mkdtemp(join(tmpdir(), "walk-skopeo-"));
  try {
    // For oci:, skopeo would gzip uncompressed layers and fail on Docker manifests: refuse any
    // rewrite, so a digest that matches is the digest the registry served.
    const target = dest === "oci" ? ["--preserve-digests", "--dest-oci-accept-uncompressed-layers", `oci:${dir}:copied`] : [`dir:${dir}`];
    await execChecked("skopeo", [...platformFlags(platform), "copy", ...skopeoCopyFlags(reg), `docker://${reg.host}/${repoRef}`, ...target], { timeoutMs: 300_000 });
    if (dest === "oci") {
      const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as { manifests: { digest: string }[] };
      const blobs = (await readdir(join(dir, "blobs", "sha256"))).map((h) => `sha256:${h}`).sort();
      return { manifestDigest: index.manifests[0]?.digest ?? "", blobs };
    }
    const names = (await readdir(dir)).filter((n) => n !== "manifest.json" && n !== "version");
    return { manifestDigest: sha256(await readFile(join(dir, "manifest.json"))), blobs: names.map((h) => `sha256:${h}`).sort() };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `skopeo inspect` of `repoRef`: the digest it reports (of the index, for an index). */
export async function skopeoInspectDigest(reg: RunningRegistry, repoRef: string, platform?: Platform): Promise<string> {
  const flags = reg.certsDir ? ["--cert-dir", join(reg.certsDir, reg.host)] : ["--tls-verify=false"];
  if (reg.credentials) flags.push("--creds", `${reg.credentials.username}:${reg.credentials.password}`);
  const r = await execChecked("skopeo", [...platformFlags(platform), "inspect", "--retry-times", "0", ...flags, `docker://${reg.host}/${repoRef}`], { timeoutMs: 60_000 });
  return (JSON.parse(r.stdout) as { Digest: string }).Digest;
}
