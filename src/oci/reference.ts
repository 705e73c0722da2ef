// Image references as users type them, parsed the way docker does, plus the two local transports:
// `nginx` -> docker.io/library/nginx:latest, `localhost:5000/x`, `ghcr.io/o/r@sha256:...`,
// `oci:PATH[:TAG]`, `docker-archive:PATH[:NAME[:TAG]|:@N]`. Validation follows the distribution spec grammar so a
// reference that reaches a URL or a path is well-formed. No I/O here.
import { WalkError, isWalkError } from "../lib/errors.js";
import { parseDigest } from "./manifest.js";

export interface RegistryReference {
  kind: "registry";
  /** Canonical registry name: "docker.io" for Docker Hub, else host[:port] as written. */
  registry: string;
  /** Repository path, e.g. "library/nginx". */
  repository: string;
  /** The tag; "latest" when the reference names neither a tag nor a digest. */
  tag?: string;
  /** "algorithm:hex"; when present it is what gets fetched (the tag is informational). */
  digest?: string;
}

export interface OciLayoutReference {
  kind: "oci-layout";
  path: string;
  /** The org.opencontainers.image.ref.name to select in index.json, if given. */
  tag?: string;
}

export interface DockerArchiveReference {
  kind: "docker-archive";
  path: string;
  /** Which image of a multi-image archive: one of its RepoTags (NAME[:TAG]) or "@N" (0-based). */
  image?: string;
}

export type ImageReference = RegistryReference | OciLayoutReference | DockerArchiveReference;

export const DOCKER_HUB = "docker.io";
/** The host Docker Hub's registry API is served from (the canonical name is docker.io). */
export const DOCKER_HUB_API_HOST = "registry-1.docker.io";
const DOCKER_HUB_ALIASES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

const MAX_NAME_LENGTH = 255;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const HOST_LABEL = "(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])";
const DOMAIN = new RegExp(`^(?:${HOST_LABEL}(?:\\.${HOST_LABEL})*|\\[[0-9A-Fa-f:.]+\\])(?::[0-9]{1,5})?$`);
const OCI_REF_NAME = /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;

function invalid(ref: string, why: string, code: "invalid_argument" | "unsupported" = "invalid_argument"): WalkError {
  return new WalkError(code, `invalid image reference ${JSON.stringify(ref)}: ${why}`, { details: { reference: ref } });
}

/** Parses any reference a user can pass to `walk image pull`. Throws invalid_argument. */
export function parseReference(input: string): ImageReference {
  if (input.startsWith("oci:")) return parseOciLayout(input);
  if (input.startsWith("docker-archive:")) return parseDockerArchive(input);
  return parseRegistryReference(input.startsWith("docker://") ? input.slice("docker://".length) : input, input);
}

/** Splits "PATH[:REST]" at the first colon, as skopeo does, so PATH cannot contain one. */
function splitTransport(input: string, prefix: string): { path: string; rest: string | undefined } {
  const body = input.slice(prefix.length);
  const colon = body.indexOf(":");
  return colon === -1 ? { path: body, rest: undefined } : { path: body.slice(0, colon), rest: body.slice(colon + 1) };
}

function parseDockerArchive(input: string): DockerArchiveReference {
  const { path, rest } = splitTransport(input, "docker-archive:");
  if (path === "") throw invalid(input, "docker-archive: needs a path to a docker save tarball");
  if (rest === undefined) return { kind: "docker-archive", path };
  if (rest === "") throw invalid(input, "the image to select after the path is empty: give NAME[:TAG] or @INDEX");
  if (/^@\d+$/.test(rest)) return { kind: "docker-archive", path, image: rest };
  // An archive's RepoTags are docker references; validate the same way.
  parseRegistryReference(rest, input);
  return { kind: "docker-archive", path, image: rest };
}

function parseOciLayout(input: string): OciLayoutReference {
  const { path, rest: tag } = splitTransport(input, "oci:");
  if (path === "") throw invalid(input, "oci: needs a path to an OCI image layout directory");
  if (tag === undefined) return { kind: "oci-layout", path };
  if (!OCI_REF_NAME.test(tag)) throw invalid(input, `${JSON.stringify(tag)} is not a valid OCI layout reference name`);
  return { kind: "oci-layout", path, tag };
}

/** Parses a registry reference such as "nginx", "user/app:tag" or "host:5000/a/b@sha256:...". */
export function parseRegistryReference(input: string, original = input): RegistryReference {
  if (input === "") throw invalid(original, "it is empty");
  let name = input;
  let digest: string | undefined;
  const at = name.indexOf("@");
  if (at !== -1) {
    digest = name.slice(at + 1);
    name = name.slice(0, at);
    try {
      parseDigest(digest, "digest");
    } catch (err) {
      if (!isWalkError(err)) throw err;
      throw invalid(original, err.message, err.code === "unsupported" ? "unsupported" : "invalid_argument");
    }
  }
  let tag: string | undefined;
  const lastColon = name.lastIndexOf(":");
  if (lastColon > name.lastIndexOf("/")) {
    tag = name.slice(lastColon + 1);
    name = name.slice(0, lastColon);
    if (!TAG.test(tag)) throw invalid(original, `tag ${JSON.stringify(tag)} must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
  }
  const { registry, repository } = splitDomain(name, original);
  for (const component of repository.split("/")) {
    if (component !== component.toLowerCase()) throw invalid(original, "repository names must be lowercase");
    if (!PATH_COMPONENT.test(component)) {
      throw invalid(original, `repository component ${JSON.stringify(component)} must be lowercase letters and digits separated by '.', '_', '__' or '-'`);
    }
  }
  if (registry.length + 1 + repository.length > MAX_NAME_LENGTH) throw invalid(original, `the name is longer than ${MAX_NAME_LENGTH} characters`);
  const ref: RegistryReference = { kind: "registry", registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = "latest";
  return ref;
}

function splitDomain(name: string, original: string): { registry: string; repository: string } {
  const slash = name.indexOf("/");
  const first = slash === -1 ? "" : name.slice(0, slash);
  // Docker's rule: the first component is a registry host when it looks like one.
  const isDomain = slash !== -1 && (first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase());
  if (!isDomain) {
    if (name === "") throw invalid(original, "the repository name is empty");
    return { registry: DOCKER_HUB, repository: slash === -1 ? `library/${name}` : name };
  }
  if (!DOMAIN.test(first)) throw invalid(original, `${JSON.stringify(first)} is not a valid registry host[:port]`);
  const port = /:([0-9]+)$/.exec(first)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) throw invalid(original, `port ${port} is out of range`);
  const repository = name.slice(slash + 1);
  if (repository === "") throw invalid(original, "the repository name is empty");
  const registry = DOCKER_HUB_ALIASES.has(first.toLowerCase()) ? DOCKER_HUB : first;
  return { registry, repository: registry === DOCKER_HUB && !repository.includes("/") ? `library/${repository}` : repository };
}

/** True when `registry` (canonical or an alias) is Docker Hub. */
export function isDockerHub(registry: string): boolean {
  return DOCKER_HUB_ALIASES.has(registry.toLowerCase());
}

/** The host[:port] to send registry API requests to: registry-1.docker.io for Docker Hub. */
export function registryApiHost(registry: string): string {
  return isDockerHub(registry) ? DOCKER_HUB_API_HOST : registry;
}

/** The canonical, fully qualified form: "docker.io/library/nginx:latest", "oci:/p:tag", ... */
export function formatReference(ref: ImageReference): string {
  switch (ref.kind) {
    case "oci-layout":
      return ref.tag === undefined ? `oci:${ref.path}` : `oci:${ref.path}:${ref.tag}`;
    case "docker-archive":
      return ref.image === undefined ? `docker-archive:${ref.path}` : `docker-archive:${ref.path}:${ref.image}`;
    case "registry":
      return `${ref.registry}/${ref.repository}${ref.tag === undefined ? "" : `:${ref.tag}`}${ref.digest === undefined ? "" : `@${ref.digest}`}`;
  }
}
