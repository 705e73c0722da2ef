// The operator's networking knobs (the `[network]` table of walkd.toml), their defaults and their
// validation. Everything is checked once, here, so the rest of src/net works with trusted values.
import { isIP } from "node:net";
import { WalkError } from "../lib/index.js";
import { cidrSize, parseCidr4, parseIpv4 } from "./cidr.js";

export type DnsConfig =
  /** walkd answers on each machine's gateway address and forwards to `upstreams` (empty: the host's resolv.conf). */
  | { mode: "forward"; upstreams: string[] }
  /** Guests are told to use these servers directly (through NAT; they must not be in a blocked range). */
  | { mode: "static"; servers: string[] }
  /** No resolver from walk: the image's own /etc/resolv.conf stays. */
  | { mode: "none" };

export interface NetConfig {
  /** IPv4 block machines' /30 subnets come from. */
  pool: string;
  mtu: number;
  dns: DnsConfig;
  /** Destinations machines may reach although they are in a blocked range (e.g. a LAN mirror). */
  allowedCidrs: string[];
  /** Host address a `-p HOSTPORT:GUESTPORT` without an address binds to. */
  publishDefaultAddress: string;
  /** Whether published host ports below 1024 are allowed. */
  allowPrivilegedPorts: boolean;
  /** Owner of the taps, for a VMM that runs unprivileged (the Firecracker jailer's uid/gid). */
  tapOwner?: { uid: number; gid: number };
  /** Network namespace (a name from `ip netns list`) holding the taps and walk's table; default: walkd's own. */
  netns?: string;
}

export const DEFAULT_NET_CONFIG: NetConfig = {
  pool: "10.231.0.0/16",
  mtu: 1500,
  dns: { mode: "forward", upstreams: [] },
  allowedCidrs: [],
  publishDefaultAddress: "127.0.0.1",
  allowPrivilegedPorts: false,
};

/** Smallest pool: one machine's /30. */
const MAX_POOL_PREFIX = 30;
const NETNS_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function bad(what: string, msg: string): never {
  throw new WalkError("invalid_argument", `network.${what} ${msg}`);
}

function str(what: string, v: unknown): string {
  if (typeof v !== "string") bad(what, "must be a string");
  return v;
}

function strList(what: string, v: unknown): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) bad(what, "must be a list of strings");
  return v;
}

function int(what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) bad(what, `must be an integer from ${min} to ${max}`);
  return v;
}

/** An upstream resolver: `A.B.C.D` or `A.B.C.D:PORT`. */
export function parseUpstream(s: string, what = "dns_upstreams"): { host: string; port: number } {
  const m = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(s);
  const port = m?.[2] === undefined ? 53 : Number(m[2]);
  if (!m || parseIpv4(m[1]!) === undefined || port < 1 || port > 65535) bad(what, `entry ${JSON.stringify(s)} must be an IPv4 address with an optional :PORT`);
  return { host: m[1]!, port };
}

/** Validates the `[network]` table (snake_case keys as in TOML); missing keys take the defaults. */
export function parseNetConfig(raw: unknown): NetConfig {
  if (raw === undefined) return { ...DEFAULT_NET_CONFIG };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) bad("", "must be a table");
  const t = raw as Record<string, unknown>;
  const known = new Set(["pool", "mtu", "dns", "dns_upstreams", "dns_servers", "allowed_cidrs", "publish_default_address", "allow_privileged_ports", "tap_uid", "tap_gid", "netns"]);
  for (const k of Object.keys(t)) if (!known.has(k)) bad(k, `is not a known setting (known: ${[...known].join(", ")})`);

  const cfg: NetConfig = { ...DEFAULT_NET_CONFIG };
  if (t.pool !== undefined) cfg.pool = str("pool", t.pool);
  if (t.mtu !== undefined) cfg.mtu = int("mtu", t.mtu, 576, 65521);
  const mode = t.dns === undefined ? "forward" : str("dns", t.dns);
  if (mode === "forward") cfg.dns = { mode, upstreams: t.dns_upstreams === undefined ? [] : strList("dns_upstreams", t.dns_upstreams) };
  else if (mode === "static") cfg.dns = { mode, servers: t.dns_servers === undefined ? [] : strList("dns_servers", t.dns_servers) };
  else if (mode === "none") cfg.dns = { mode };
  else bad("dns", `must be "forward", "static" or "none", got ${JSON.stringify(mode)}`);
  if (t.allowed_cidrs !== undefined) cfg.allowedCidrs = strList("allowed_cidrs", t.allowed_cidrs);
  if (t.publish_default_address !== undefined) cfg.publishDefaultAddress = str("publish_default_address", t.publish_default_address);
  if (t.allow_privileged_ports !== undefined) {
    if (typeof t.allow_privileged_ports !== "boolean") bad("allow_privileged_ports", "must be true or false");
    cfg.allowPrivilegedPorts = t.allow_privileged_ports;
  }
  if ((t.tap_uid === undefined) !== (t.tap_gid === undefined)) bad("tap_uid", "and network.tap_gid must be set together");
  if (t.tap_uid !== undefined) cfg.tapOwner = { uid: int("tap_uid", t.tap_uid, 0, 2 ** 31 - 1), gid: int("tap_gid", t.tap_gid, 0, 2 ** 31 - 1) };
  if (t.netns !== undefined) cfg.netns = str("netns", t.netns);
  return checkNetConfig(cfg);
}

/** Checks a config built in code (tests, the daemon's defaults) by the same rules as the file. */
export function checkNetConfig(cfg: NetConfig): NetConfig {
  const pool = parseCidr4(cfg.pool, "network.pool");
  if (pool.prefix > MAX_POOL_PREFIX) bad("pool", `${cfg.pool} is too small: each machine needs a /30, so the pool must be /${MAX_POOL_PREFIX} or larger`);
  if (cidrSize(pool) > 2 ** 24) bad("pool", `${cfg.pool} is too large: use at most a /8`);
  int("mtu", cfg.mtu, 576, 65521);
  for (const c of cfg.allowedCidrs) parseCidr4(c, "network.allowed_cidrs entry");
  if (cfg.dns.mode === "forward") for (const u of cfg.dns.upstreams) parseUpstream(u);
  if (cfg.dns.mode === "static") {
    if (cfg.dns.servers.length === 0 || cfg.dns.servers.length > 3) bad("dns_servers", "must list 1 to 3 servers when network.dns is \"static\"");
    for (const s of cfg.dns.servers) if (parseIpv4(s) === undefined) bad("dns_servers", `entry ${JSON.stringify(s)} is not an IPv4 address`);
  }
  if (isIP(cfg.publishDefaultAddress) === 0) bad("publish_default_address", `must be an IP address, got ${JSON.stringify(cfg.publishDefaultAddress)}`);
  if (cfg.netns !== undefined && !NETNS_RE.test(cfg.netns)) bad("netns", `must be a network namespace name, got ${JSON.stringify(cfg.netns)}`);
  if (cfg.netns !== undefined && cfg.dns.mode === "forward") {
    bad("dns", `"forward" needs walkd in the namespace of the taps (its forwarder binds each gateway address); with network.netns set, use dns = "static" or "none"`);
  }
  return cfg;
}
