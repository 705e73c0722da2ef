// walkd.toml's [activator] table: where the activator (the apps' HTTP entry point) listens, and
// whether browsers get a "starting…" page during a long wake. Parsing only; walkd starts the
// activator with it.
import type { StartingPageOptions } from "../activator/index.js";
import { WalkError } from "../lib/index.js";

export interface ActivatorDaemonConfig {
  listen: { host: string; port: number };
  /** The address was configured: failing to bind it fails walkd. The default only warns. */
  configured: boolean;
  /** The browser "starting" page; undefined: off (browsers wait for the wake like any client). */
  startingPage?: StartingPageOptions;
}

export const DEFAULT_ACTIVATOR_LISTEN = { host: "127.0.0.1", port: 8040 };
/** `starting_page = true`: a navigation still held after 1.5 s gets the page, which reloads every 2 s. */
export const DEFAULT_STARTING_PAGE: StartingPageOptions = { afterMs: 1500, refreshSeconds: 2 };

const KEYS = ["listen", "starting_page"];

function invalid(msg: string): WalkError {
  return new WalkError("invalid_argument", `walkd.toml: ${msg}`);
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `[activator] listen = "HOST:PORT"` (IPv6 in brackets); default 127.0.0.1:8040. */
function parseListen(v: unknown): { host: string; port: number } {
  const m = typeof v === "string" ? /^(\[[0-9a-fA-F:]+\]|[^:[\]]+):(\d{1,5})$/.exec(v) : null;
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw invalid(`activator.listen must be "HOST:PORT" (e.g. "127.0.0.1:8040"), got ${JSON.stringify(v)}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
}

/** `starting_page = true | false | { after_ms = 1500, refresh_s = 2 }`. */
function parseStartingPage(v: unknown): StartingPageOptions | undefined {
  if (v === false) return undefined;
  if (v === true) return { ...DEFAULT_STARTING_PAGE };
  if (!isTable(v)) throw invalid(`activator.starting_page must be true, false or { after_ms, refresh_s }, got ${JSON.stringify(v)}`);
  for (const k of Object.keys(v)) if (k !== "after_ms" && k !== "refresh_s") throw invalid(`activator.starting_page.${k}: unknown key (allowed: after_ms, refresh_s)`);
  const num = (key: string, min: number, max: number, fallback: number): number => {
    const x = v[key];
    if (x === undefined) return fallback;
    if (typeof x !== "number" || !Number.isInteger(x) || x < min || x > max) throw invalid(`activator.starting_page.${key} must be an integer in ${min}..${max}, got ${JSON.stringify(x)}`);
    return x;
  };
  return { afterMs: num("after_ms", 0, 600_000, DEFAULT_STARTING_PAGE.afterMs), refreshSeconds: num("refresh_s", 1, 3600, DEFAULT_STARTING_PAGE.refreshSeconds) };
}

export function parseActivatorConfig(v: unknown): ActivatorDaemonConfig {
  if (v === undefined) return { listen: { ...DEFAULT_ACTIVATOR_LISTEN }, configured: false };
  if (!isTable(v)) throw invalid("[activator] must be a table");
  for (const k of Object.keys(v)) if (!KEYS.includes(k)) throw invalid(`activator.${k}: unknown key (allowed: ${KEYS.join(", ")})`);
  const startingPage = v.starting_page === undefined ? undefined : parseStartingPage(v.starting_page);
  const listen = v.listen === undefined ? { ...DEFAULT_ACTIVATOR_LISTEN } : parseListen(v.listen);
  return { listen, configured: v.listen !== undefined, ...(startingPage !== undefined ? { startingPage } : {}) };
}
