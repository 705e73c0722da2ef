#!/usr/bin/env node
// A stand-in for the `firecracker` binary (and, with FC_STANDIN_AS_JAILER=1, for `jailer`), for
// tests on hosts that cannot run Firecracker. It parses the same command line, serves the API on
// --api-sock, validates every request against firecracker.yaml (method, path, path parameters,
// body), applies Firecracker's state rules (./firecracker/vmm.ts), and writes a console line or
// two to stdout on boot. There is no guest, no KVM, no device emulation. See docs/vmm-drivers.md.
//
// Environment (set by the test's wrapper script, ./firecracker/control.ts):
//   FC_STANDIN_SPEC    path of firecracker.yaml (required)
//   FC_STANDIN_LOG     JSON-lines file: one line per request (and the jailer's argv)
//   FC_STANDIN_FAULTS  JSON file {"PUT /drives/vdb": {"status": 400, "fault_message": "..."}},
//                      read on every request; a listed request is validated, then answered with it
//   FC_STANDIN_MODE    comma list: ignore-ctrl-alt-del | no-socket | exit-early
import http from "node:http";
import { appendFileSync, chownSync, existsSync, mkdirSync, openSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { describeViolation, loadFirecrackerApiSpec } from "./firecracker/api-spec.js";
import { Fault, StandinVmm, type Reply } from "./firecracker/vmm.js";

const MAX_BODY = 64 * 1024;
const env = process.env;
const modes = new Set((env.FC_STANDIN_MODE ?? "").split(",").filter(Boolean));
const logFd = env.FC_STANDIN_LOG ? openSync(env.FC_STANDIN_LOG, "a") : undefined;

function record(entry: Record<string, unknown>): void {
  if (logFd !== undefined) appendFileSync(logFd, JSON.stringify(entry) + "\n");
}

function die(message: string, code = 1): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

/** `--flag value` and `--flag=value`, as Firecracker's and the jailer's parsers accept. */
function parseFlags(argv: string[], valued: Set<string>, boolean: Set<string>, what: string): { values: Map<string, string[]>; rest: string[] } {
  const values = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") return { values, rest: argv.slice(i + 1) };
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    if (!arg.startsWith("--")) die(`${what}: Arguments parsing error: Found argument '${arg}' which wasn't expected.`);
    if (boolean.has(name)) {
      values.set(name, ["true"]);
      continue;
    }
    if (!valued.has(name)) die(`${what}: Arguments parsing error: Found argument '--${name}' which wasn't expected.`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) die(`${what}: Arguments parsing error: Argument '--${name}' requires a value.`);
    values.set(name, [...(values.get(name) ?? []), value]);
  }
  return { values, rest: [] };
}

const one = (values: Map<string, string[]>, name: string): string | undefined => values.get(name)?.at(-1);

/** The jailer's part (docs/jailer.md): validate, build `<base>/<exec name>/<id>/root`, drop to uid/gid. */
function actAsJailer(argv: string[]): { root: string; firecrackerArgs: string[] } {
  const valued = new Set(["id", "exec-file", "uid", "gid", "chroot-base-dir", "netns", "cgroup-version", "cgroup", "parent-cgroup", "resource-limit"]);
  const { values, rest } = parseFlags(argv, valued, new Set(["daemonize", "new-pid-ns"]), "jailer");
  record({ jailer: argv });
  for (const required of ["id", "exec-file", "uid", "gid"]) if (!one(values, required)) die(`jailer: missing required argument --${required}`);
  const id = one(values, "id")!;
  if (!/^[A-Za-z0-9-]{1,64}$/.test(id)) die(`jailer: Invalid instance ID: ${id}`);
  const exec = one(values, "exec-file")!;
  if (!existsSync(exec) || !statSync(exec).isFile()) die(`jailer: Failed to canonicalize path ${exec}`);
  const uid = Number(one(values, "uid"));
  const gid = Number(one(values, "gid"));
  const version = one(values, "cgroup-version") ?? "1";
  if (version !== "1" && version !== "2") die(`jailer: Invalid cgroup version ${version}`);
  for (const c of values.get("cgroup") ?? []) if (!/^[a-z_]+\.[a-z_.]+=.+$/.test(c)) die(`jailer: Invalid cgroup argument ${c}`);
  for (const r of values.get("resource-limit") ?? []) if (!/^(fsize|no-file)=\d+$/.test(r)) die(`jailer: Invalid resource limit ${r}`);
  const netns = one(values, "netns");
  if (netns !== undefined && !existsSync(netns)) die(`jailer: Failed to open the network namespace ${netns}`);
  if (values.has("daemonize")) die("jailer: the walk stand-in does not simulate --daemonize");
  const root = join(one(values, "chroot-base-dir") ?? "/srv/jailer", basename(exec), id, "root");
  mkdirSync(root, { recursive: true });
  chownSync(root, uid, gid);
  // No pivot_root, mknod or cgroups here: the stand-in resolves Firecracker's paths under `root`
  // and then really runs as uid:gid, so file permissions inside the jail are the kernel's verdict.
  process.setgroups!([]);
  process.setgid!(gid);
  process.setuid!(uid);
  return { root, firecrackerArgs: ["--id", id, "--start-time-us", "0", "--start-time-cpu-us", "0", ...rest] };
}

function main(): void {
  let argv = process.argv.slice(2);
  let root: string | undefined;
  const specPath = env.FC_STANDIN_SPEC ?? die("FC_STANDIN_SPEC is not set: the stand-in needs firecracker.yaml");
  const spec = loadFirecrackerApiSpec(specPath);
  if (env.FC_STANDIN_AS_JAILER === "1") ({ root, firecrackerArgs: argv } = actAsJailer(argv));
  const valued = new Set(["api-sock", "id", "start-time-us", "start-time-cpu-us", "parent-cpu-time-us", "log-path", "level", "metrics-path", "config-file"]);
  const { values } = parseFlags(argv, valued, new Set(["version", "no-api", "show-level", "show-log-origin", "enable-pci", "no-seccomp"]), "firecracker");
  if (values.has("version")) {
    process.stdout.write(`Firecracker v${spec.version}\n`);
    return;
  }
  for (const unsupported of ["config-file", "no-api", "log-path", "metrics-path"]) if (values.has(unsupported)) die(`the walk stand-in does not simulate --${unsupported}`);
  const id = one(values, "id") ?? "anonymous-instance";
  if (!/^[A-Za-z0-9-]{1,64}$/.test(id)) die(`Invalid instance ID: ${id}`);
  const apiSock = one(values, "api-sock") ?? "/run/firecracker.socket";
  if (modes.has("exit-early")) die("stand-in: exiting before opening the API socket (mode exit-early)");
  const vmm = new StandinVmm({
    id,
    version: spec.version,
    ...(root === undefined ? {} : { root }),
    onCtrlAltDel: modes.has("ignore-ctrl-alt-del") ? "ignore" : "reboot",
    console: (line) => process.stdout.write(`${line}\n`),
    exit: (code) => process.exit(code),
  });
  const sockPath = vmm.host(apiSock);
  if (existsSync(sockPath)) die(`Failed to open the API socket at: ${apiSock}. Check that it is not already used. (Address in use)`);
  if (modes.has("no-socket")) {
    setInterval(() => undefined, 1 << 30);
    return;
  }
  const server = http.createServer((req, res) => serve(req, res, spec, vmm));
  server.listen(sockPath);
}

function serve(req: http.IncomingMessage, res: http.ServerResponse, spec: ReturnType<typeof loadFirecrackerApiSpec>, vmm: StandinVmm): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on("data", (c: Buffer) => {
    size += c.length;
    if (size <= MAX_BODY) chunks.push(c);
  });
  req.on("end", () => {
    const method = req.method ?? "";
    const path = (req.url ?? "").split("?")[0]!;
    const text = Buffer.concat(chunks).toString("utf8");
    let body: unknown;
    let reply: Reply;
    let fatal = false;
    try {
      if (size > MAX_BODY) throw new Fault(400, "Request payload too large.");
      const found = spec.find(method, path);
      if (!found) throw new Fault(400, `Invalid request method and/or path: ${method} ${path}.`);
      const { route, params } = found;
      if (route.body) {
        if (text.trim() === "") {
          if (route.body.required) throw new Fault(400, "The request body is empty.");
        } else {
          try {
            body = JSON.parse(text);
          } catch (err) {
            throw new Fault(400, `An error occurred when deserializing the json body of a request: ${(err as Error).message}`);
          }
          if (!route.body.validate(body)) throw new Fault(400, `An error occurred when deserializing the json body of a request: ${route.body.definition}${describeViolation(route.body.validate)}`);
        }
      } else if (text.trim() !== "") {
        throw new Fault(400, `${method} ${path} takes no body.`);
      }
      const injected = injectedFault(`${method} ${path}`);
      if (injected) throw injected;
      reply = vmm.handle(route, params, body as Record<string, unknown> | undefined);
      if (reply.status === 200 && route.ok && !route.ok(reply.body)) {
        die(`stand-in bug: its reply to ${method} ${path} does not match the spec: ${describeViolation(route.ok)}`, 70);
      }
    } catch (err) {
      if (!(err instanceof Fault)) throw err;
      reply = { status: err.status, body: { fault_message: err.message } };
      fatal = err.fatal;
    }
    record({ method, path, ...(body === undefined ? (text ? { raw: text } : {}) : { body }), status: reply.status, ...(reply.status >= 400 ? { fault_message: (reply.body as { fault_message: string }).fault_message } : {}) });
    const payload = reply.body === undefined ? "" : JSON.stringify(reply.body);
    res.writeHead(reply.status, payload ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) } : {});
    res.end(payload, () => {
      if (fatal) process.exit(1);
    });
  });
}

function injectedFault(key: string): Fault | undefined {
  const file = env.FC_STANDIN_FAULTS;
  if (!file || !existsSync(file)) return undefined;
  const faults = JSON.parse(readFileSync(file, "utf8")) as Record<string, { status: number; fault_message: string }>;
  const f = faults[key];
  return f ? new Fault(f.status, f.fault_message) : undefined;
}

main();
