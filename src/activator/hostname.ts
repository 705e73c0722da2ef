// Host header parsing for routing: one canonical form per name so that case, a port suffix or a
// trailing dot can never make one app's name reach another, or miss its own. Knows nothing of apps.

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** True for a valid DNS label (an app name): lowercase letters, digits, inner hyphens, 1..63. */
export function isDnsLabel(s: string): boolean {
  return LABEL.test(s);
}

/** A hostname in canonical form (lowercase, no trailing dot), or undefined when it is not a valid name. */
export function canonicalHostname(name: string): string | undefined {
  let h = name.toLowerCase();
  if (h.endsWith(".")) h = h.slice(0, -1);
  if (h.length === 0 || h.length > 253) return undefined;
  return h.split(".").every(isDnsLabel) ? h : undefined;
}

/**
 * The hostname a Host header names, canonical, with any port removed. An IPv6 literal comes back
 * as written inside its brackets. Undefined for a missing or malformed header.
 */
export function hostFromHeader(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const v = header.trim();
  if (v.startsWith("[")) {
    const m = /^\[([0-9a-fA-F:.]+)\](?::\d{1,5})?$/.exec(v);
    return m ? m[1]!.toLowerCase() : undefined;
  }
  const m = /^([^:]+)(?::\d{1,5})?$/.exec(v);
  return m ? canonicalHostname(m[1]!) : undefined;
}
