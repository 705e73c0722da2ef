// walkd.toml's [activator] table: where the activator (the apps' HTTP entry point) listens.
// Parsing only; walkd starts the activator with it.
import { WalkError } from "../lib/index.js";

export interface ActivatorDaemonConfig {
  listen: { host: string; port: number };
  /** The address was configured: failing to bind it fails walkd. The default only warns. */
  configured: boolean;
}

export const DEFAULT_ACTIVATOR_LISTEN = { host: "127.0.0.1", port: 8040 };

/** `[activator] listen = "HOST:PORT"` (IPv6 in brackets); default 127.0.0.1:8040. */
export function parseActivatorConfig(v: unknown): ActivatorDaemonConfig {
  if (v === undefined) return { listen: { ...DEFAULT_ACTIVATOR_LISTEN }, configured: false };
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new WalkError("invalid_argument", "walkd.toml: [activator] must be a table");
  const t = v as Record<string, unknown>;
  for (const k of Object.keys(t)) if (k !== "listen") throw new WalkError("invalid_argument", `walkd.toml: activator.${k}: unknown key (allowed: listen)`);
  if (t.listen === undefined) return { listen: { ...DEFAULT_ACTIVATOR_LISTEN }, configured: false };
  const m = typeof t.listen === "string" ? /^(\[[0-9a-fA-F:]+\]|[^:[\]]+):(\d{1,5})$/.exec(t.listen) : null;
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new WalkError("invalid_argument", `walkd.toml: activator.listen must be "HOST:PORT" (e.g. "127.0.0.1:8040"), got ${JSON.stringify(t.listen)}`);
  return { listen: { host: m[1]!.replace(/^\[|\]$/g, ""), port }, configured: true };
}
