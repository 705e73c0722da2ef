// IPv4 addresses and CIDR blocks as unsigned 32-bit integers: parsing with strict syntax (no
// leading zeros, no shorthand), formatting and containment. Pure functions, no I/O.
import { WalkError } from "../lib/index.js";

export interface Cidr4 {
  /** Network address (host bits zero). */
  base: number;
  prefix: number;
}

const OCTET = /^(0|[1-9]\d{0,2})$/;

/** Parses a dotted quad; undefined when it is not exactly one. */
export function parseIpv4(s: string): number | undefined {
  const parts = s.split(".");
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((acc, p) => ((acc << 8) | Number(p)) >>> 0, 0);
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses `A.B.C.D/N` (or a bare address as /32); `what` names the setting in the error. */
export function parseCidr4(s: string, what: string): Cidr4 {
  const m = /^([^/]+)(?:\/(\d{1,2}))?$/.exec(s);
  const addr = m ? parseIpv4(m[1]!) : undefined;
  const prefix = m?.[2] === undefined ? 32 : Number(m[2]);
  if (addr === undefined || prefix > 32 || (m?.[2] !== undefined && m[2].length > 1 && m[2].startsWith("0"))) {
    throw new WalkError("invalid_argument", `${what} must be an IPv4 CIDR like 10.231.0.0/16, got ${JSON.stringify(s)}`);
  }
  if ((addr & ~maskOf(prefix)) >>> 0 !== 0) {
    throw new WalkError("invalid_argument", `${what} ${s} has host bits set; did you mean ${formatIpv4((addr & maskOf(prefix)) >>> 0)}/${prefix}?`);
  }
  return { base: addr, prefix };
}

export function formatCidr4(c: Cidr4): string {
  return `${formatIpv4(c.base)}/${c.prefix}`;
}

export function cidrSize(c: Cidr4): number {
  return 2 ** (32 - c.prefix);
}

export function cidrContains(c: Cidr4, addr: number): boolean {
  return ((addr & maskOf(c.prefix)) >>> 0) === c.base;
}
