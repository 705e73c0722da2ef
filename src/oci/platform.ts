// Platforms: the host's default, parsing "os/arch[/variant]", normalising the aliases tools write
// (x86_64, aarch64, armhf ...) and choosing an index entry the way containerd does: arm64 without
// a variant is v8, amd64 without one is v1, and a host variant also accepts the older ones it can
// run (amd64 v3 takes v2 and v1, arm v7 takes v6 and v5). No I/O here.
import { WalkError } from "../lib/errors.js";
import type { Descriptor, ImageIndex, Platform } from "./types.js";
import { isManifestMediaType } from "./manifest.js";

const TOKEN_RE = /^[a-z0-9][a-z0-9._-]*$/;

const NODE_ARCH: Readonly<Record<string, string>> = {
  x64: "amd64",
  arm64: "arm64",
  arm: "arm",
  ia32: "386",
  ppc64: "ppc64le",
  s390x: "s390x",
  riscv64: "riscv64",
  loong64: "loong64",
  mips64el: "mips64le",
};

/** The platform of this host, as OCI names it: linux/amd64, linux/arm64/v8, linux/arm/v7 ... */
export function hostPlatform(): Platform {
  const architecture = NODE_ARCH[process.arch] ?? process.arch;
  if (architecture === "arm64") return { os: "linux", architecture, variant: "v8" };
  if (architecture === "arm") {
    const v = (process.config.variables as Record<string, unknown>).arm_version;
    return { os: "linux", architecture, variant: `v${typeof v === "string" || typeof v === "number" ? v : "7"}` };
  }
  return { os: "linux", architecture };
}

/** Canonical form: lowercase, aliases resolved, default variants made explicit (arm64 v8, arm v7). */
export function normalizePlatform(p: Platform): Platform {
  let os = p.os.toLowerCase();
  if (os === "macos") os = "darwin";
  let arch = p.architecture.toLowerCase();
  let variant = (p.variant ?? "").toLowerCase();
  switch (arch) {
    case "x86_64":
    case "x86-64":
    case "amd64":
      arch = "amd64";
      if (variant === "" || variant === "v1") variant = "";
      break;
    case "aarch64":
    case "arm64":
      arch = "arm64";
      if (variant === "" || variant === "8" || variant === "v8.0") variant = "v8";
      break;
    case "armhf":
      arch = "arm";
      variant = "v7";
      break;
    case "armel":
      arch = "arm";
      variant = "v6";
      break;
    case "arm":
      if (variant === "") variant = "v7";
      else if (/^[5-8]$/.test(variant)) variant = `v${variant}`;
      break;
    case "i386":
    case "i686":
      arch = "386";
      break;
  }
  return variant === "" ? { os, architecture: arch } : { os, architecture: arch, variant };
}

/** Parses "os/arch[/variant]" (e.g. --platform linux/arm64) into a normalised platform. */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().toLowerCase().split("/");
  if (parts.length < 2 || parts.length > 3 || !parts.every((s) => TOKEN_RE.test(s))) {
    throw new WalkError("invalid_argument", `invalid platform ${JSON.stringify(text)}: expected os/arch or os/arch/variant, e.g. linux/amd64 or linux/arm64/v8`);
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return normalizePlatform(variant === undefined ? { os, architecture } : { os, architecture, variant });
}

/** "linux/arm64/v8" */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((s) => s !== undefined && s !== "").join("/");
}

/** The platforms `want` accepts, best first (the host's own variant, then older ones it runs). */
function acceptable(want: Platform): Platform[] {
  const w = normalizePlatform(want);
  const variants = (prefix: string, max: number, min: number): (string | undefined)[] => {
    const out: (string | undefined)[] = [];
    for (let i = max; i >= min; i--) out.push(i === 1 && prefix === "amd64" ? undefined : `v${i}`);
    return out;
  };
  const level = /^v(\d+)$/.exec(w.variant ?? "");
  let list: (string | undefined)[] = [w.variant];
  if (w.architecture === "amd64") list = variants("amd64", level ? Number(level[1]) : 1, 1);
  else if (w.architecture === "arm" && level) list = variants("arm", Number(level[1]), 5);
  return list.map((variant) => (variant === undefined ? { os: w.os, architecture: w.architecture } : { os: w.os, architecture: w.architecture, variant }));
}

export function platformMatches(want: Platform, have: Platform): boolean {
  const h = normalizePlatform(have);
  return acceptable(want).some((p) => p.os === h.os && p.architecture === h.architecture && p.variant === h.variant);
}

/** Entries that describe a runnable platform (attestations are listed as unknown/unknown). */
function listedPlatforms(index: ImageIndex): string[] {
  const names = index.manifests
    .filter((d) => d.platform !== undefined && d.platform.os !== "unknown" && d.platform.architecture !== "unknown")
    .map((d) => formatPlatform(d.platform!));
  return [...new Set(names)];
}

/**
 * Picks the image manifest for `want` from an index: the best acceptable variant, first in index
 * order among equals. No match is not_found and lists what the index offers.
 */
export function selectPlatform(index: ImageIndex, want: Platform, imageName: string): Descriptor {
  const candidates = index.manifests.filter((d) => d.platform !== undefined);
  for (const p of acceptable(want)) {
    const matching = candidates.filter((d) => {
      const h = normalizePlatform(d.platform!);
      return h.os === p.os && h.architecture === p.architecture && h.variant === p.variant;
    });
    const usable = matching.find((d) => isManifestMediaType(d.mediaType));
    if (usable) return usable;
    if (matching[0]) {
      throw new WalkError("unsupported", `the ${formatPlatform(p)} entry of ${imageName} has unsupported media type ${JSON.stringify(matching[0].mediaType)}`, { details: { mediaType: matching[0].mediaType } });
    }
  }
  const available = listedPlatforms(index);
  const list = available.length > 0 ? available.join(", ") : "none";
  throw new WalkError("not_found", `${imageName} has no image for platform ${formatPlatform(normalizePlatform(want))}; available: ${list}`, { details: { platform: formatPlatform(want), available } });
}
