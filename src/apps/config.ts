// walk.toml: parsing and strict validation into an AppSpec. Every error names the file and the
// key (`walk.toml: services[0].concurrency.hard: ...`); unknown keys are errors, so a typo never
// silently falls back to a default. Pure: reads no files and knows nothing of machines.
import { parse, TomlError } from "smol-toml";
import { WalkError } from "../lib/index.js";
import { canonicalHostname, isDnsLabel } from "../activator/hostname.js";
import { APP_DEFAULTS, MAX_MACHINES, SERVICE_DEFAULTS, type AppHealthCheck, type AppSpec, type Autostop, type ServiceSpec } from "./spec.js";

/** Bound on the file itself, before any parsing. */
export const MAX_WALK_TOML_BYTES = 256 * 1024;
const MAX_SERVICES = 16;
const MAX_HOSTNAMES = 32;
const MAX_ENV = 1024;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

type Table = Record<string, unknown>;

class Checker {
  constructor(private readonly file: string) {}

  fail(key: string, message: string): never {
    const where = key === "" ? this.file : `${this.file}: ${key}`;
    throw new WalkError("invalid_argument", `${where}: ${message}`, { details: { file: this.file, key } });
  }

  table(v: unknown, key: string): Table {
    if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Date) this.fail(key, "must be a table");
    return v as Table;
  }

  onlyKeys(t: Table, prefix: string, allowed: readonly string[]): void {
    for (const k of Object.keys(t)) if (!allowed.includes(k)) this.fail(join(prefix, k), `unknown key (allowed: ${allowed.join(", ")})`);
  }

  string(v: unknown, key: string, max: number): string {
    if (typeof v !== "string") this.fail(key, "must be a string");
    if (v.length === 0 || v.length > max) this.fail(key, `must be 1 to ${max} characters`);
    if ([...v].some((ch) => ch < " " || ch === "\x7f")) this.fail(key, "must not contain control characters");
    return v;
  }

  int(v: unknown, key: string, min: number, max: number): number {
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) this.fail(key, `must be an integer from ${min} to ${max}`);
    return v;
  }

  bool(v: unknown, key: string): boolean {
    if (typeof v !== "boolean") this.fail(key, "must be true or false");
    return v;
  }
}

function join(prefix: string, key: string): string {
  return prefix === "" ? key : `${prefix}.${key}`;
}

/** Parses walk.toml text; `file` names it in errors. */
export function parseWalkToml(text: string, file = "walk.toml"): AppSpec {
  const c = new Checker(file);
  if (Buffer.byteLength(text) > MAX_WALK_TOML_BYTES) c.fail("", `is larger than ${MAX_WALK_TOML_BYTES} bytes`);
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    if (err instanceof TomlError) c.fail("", `not valid TOML at line ${err.line}, column ${err.column}: ${err.message.split("\n")[0]}`);
    throw err;
  }
  return checkApp(c, c.table(doc, ""));
}

function checkApp(c: Checker, t: Table): AppSpec {
  c.onlyKeys(t, "", ["name", "image", "env", "cpus", "memory_mib", "max_machines", "services"]);
  if (t.name === undefined) c.fail("name", "is required");
  const name = c.string(t.name, "name", 63);
  if (!isDnsLabel(name)) c.fail("name", `${JSON.stringify(name)} must be a DNS label: lowercase letters, digits and inner hyphens`);
  if (t.image === undefined) c.fail("image", "is required");
  const image = c.string(t.image, "image", 4096);
  const env = t.env === undefined ? [] : checkEnv(c, c.table(t.env, "env"));
  const cpus = t.cpus === undefined ? APP_DEFAULTS.cpus : c.int(t.cpus, "cpus", 1, 32);
  const memoryMib = t.memory_mib === undefined ? APP_DEFAULTS.memoryMib : c.int(t.memory_mib, "memory_mib", 32, 1024 * 1024);
  if (t.services === undefined) c.fail("services", "is required: at least one [[services]] table");
  if (!Array.isArray(t.services) || t.services.length === 0) c.fail("services", "must be one or more [[services]] tables");
  if (t.services.length > MAX_SERVICES) c.fail("services", `at most ${MAX_SERVICES} services`);
  const services = t.services.map((s: unknown, i: number) => checkService(c, s, `services[${i}]`));
  checkDistinct(c, services);
  const maxMachines = checkMaxMachines(c, t.max_machines, services);
  return { name, image, env, cpus, memoryMib, maxMachines, services };
}

/** Default: the largest min_machines (at least 1). Given, it bounds every service's min_machines. */
function checkMaxMachines(c: Checker, v: unknown, services: ServiceSpec[]): number {
  const mins = Math.max(1, ...services.map((s) => s.minMachines));
  if (v === undefined) return mins;
  const max = c.int(v, "max_machines", 1, MAX_MACHINES);
  services.forEach((s, i) => {
    if (s.minMachines > max) c.fail(`services[${i}].min_machines`, `(${s.minMachines}) must not exceed max_machines (${max})`);
  });
  return max;
}

function checkEnv(c: Checker, t: Table): string[] {
  const keys = Object.keys(t).sort();
  if (keys.length > MAX_ENV) c.fail("env", `at most ${MAX_ENV} entries`);
  return keys.map((k) => {
    if (!ENV_KEY.test(k)) c.fail(`env.${k}`, "is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)");
    const v = t[k];
    if (typeof v !== "string") c.fail(`env.${k}`, "must be a string");
    if (v.includes("\0")) c.fail(`env.${k}`, "must not contain NUL");
    return `${k}=${v}`;
  });
}

const SERVICE_KEYS = ["internal_port", "hostnames", "host_port", "autostart", "autostop", "idle_timeout", "wake_timeout", "min_machines", "concurrency", "health_check"] as const;

function checkService(c: Checker, v: unknown, key: string): ServiceSpec {
  const t = c.table(v, key);
  c.onlyKeys(t, key, SERVICE_KEYS);
  if (t.internal_port === undefined) c.fail(`${key}.internal_port`, "is required");
  const internalPort = c.int(t.internal_port, `${key}.internal_port`, 1, 65535);
  const hostnames = t.hostnames === undefined ? [] : checkHostnames(c, t.hostnames, `${key}.hostnames`);
  const hostPort = t.host_port === undefined ? null : c.int(t.host_port, `${key}.host_port`, 1, 65535);
  const autostart = t.autostart === undefined ? SERVICE_DEFAULTS.autostart : c.bool(t.autostart, `${key}.autostart`);
  const autostop = t.autostop === undefined ? SERVICE_DEFAULTS.autostop : checkAutostop(c, t.autostop, `${key}.autostop`);
  const idleTimeoutS = t.idle_timeout === undefined ? SERVICE_DEFAULTS.idleTimeoutS : c.int(t.idle_timeout, `${key}.idle_timeout`, 1, 7 * 86400);
  const wakeTimeoutS = t.wake_timeout === undefined ? SERVICE_DEFAULTS.wakeTimeoutS : c.int(t.wake_timeout, `${key}.wake_timeout`, 1, 3600);
  const minMachines = t.min_machines === undefined ? SERVICE_DEFAULTS.minMachines : c.int(t.min_machines, `${key}.min_machines`, 0, MAX_MACHINES);
  const concurrency = t.concurrency === undefined ? { ...SERVICE_DEFAULTS.concurrency } : checkConcurrency(c, t.concurrency, `${key}.concurrency`);
  const healthCheck = t.health_check === undefined ? null : checkHealth(c, t.health_check, `${key}.health_check`);
  if (!autostart && minMachines === 0) c.fail(`${key}.autostart`, "is false with min_machines = 0: nothing would ever start the app's machine");
  return { internalPort, hostnames, hostPort, autostart, autostop, idleTimeoutS, wakeTimeoutS, minMachines, concurrency, healthCheck };
}

function checkHostnames(c: Checker, v: unknown, key: string): string[] {
  if (!Array.isArray(v)) c.fail(key, "must be an array of hostnames");
  if (v.length > MAX_HOSTNAMES) c.fail(key, `at most ${MAX_HOSTNAMES} hostnames`);
  const out = v.map((h: unknown, i: number) => {
    const s = c.string(h, `${key}[${i}]`, 253);
    const canon = canonicalHostname(s);
    if (canon === undefined) c.fail(`${key}[${i}]`, `${JSON.stringify(s)} is not a valid hostname`);
    return canon;
  });
  if (new Set(out).size !== out.length) c.fail(key, "lists a hostname twice");
  return out;
}

function checkAutostop(c: Checker, v: unknown, key: string): Autostop {
  if (v === false || v === "stop" || v === "suspend") return v;
  return c.fail(key, `must be "stop", "suspend" or false, got ${JSON.stringify(v)}`);
}

function checkConcurrency(c: Checker, v: unknown, key: string): { soft: number; hard: number } {
  const t = c.table(v, key);
  c.onlyKeys(t, key, ["soft", "hard"]);
  const hard = t.hard === undefined ? SERVICE_DEFAULTS.concurrency.hard : c.int(t.hard, `${key}.hard`, 1, 100_000);
  const soft = t.soft === undefined ? Math.min(SERVICE_DEFAULTS.concurrency.soft, hard) : c.int(t.soft, `${key}.soft`, 1, 100_000);
  if (soft > hard) c.fail(`${key}.soft`, `(${soft}) must not exceed hard (${hard})`);
  return { soft, hard };
}

function checkHealth(c: Checker, v: unknown, key: string): AppHealthCheck {
  const t = c.table(v, key);
  if (t.type === "tcp") {
    c.onlyKeys(t, key, ["type"]);
    return { type: "tcp" };
  }
  if (t.type === "http") {
    c.onlyKeys(t, key, ["type", "path"]);
    if (t.path === undefined) c.fail(`${key}.path`, "is required for an http health check");
    const path = c.string(t.path, `${key}.path`, 1024);
    if (!/^\/[\x21-\x7e]*$/.test(path)) c.fail(`${key}.path`, `${JSON.stringify(path)} must start with / and contain no spaces`);
    return { type: "http", path };
  }
  return c.fail(`${key}.type`, `must be "http" or "tcp", got ${JSON.stringify(t.type)}`);
}

/** Two services of one app can not claim the same hostname, host port or internal port. */
function checkDistinct(c: Checker, services: ServiceSpec[]): void {
  const hosts = new Map<string, number>();
  const ports = new Map<number, number>();
  const internal = new Map<number, number>();
  services.forEach((s, i) => {
    for (const h of s.hostnames) {
      const j = hosts.get(h);
      if (j !== undefined) c.fail(`services[${i}].hostnames`, `${h} is already used by services[${j}]`);
      hosts.set(h, i);
    }
    if (s.hostPort !== null) {
      const j = ports.get(s.hostPort);
      if (j !== undefined) c.fail(`services[${i}].host_port`, `${s.hostPort} is already used by services[${j}]`);
      ports.set(s.hostPort, i);
    }
    const j = internal.get(s.internalPort);
    if (j !== undefined) c.fail(`services[${i}].internal_port`, `${s.internalPort} is already used by services[${j}]`);
    internal.set(s.internalPort, i);
  });
}
