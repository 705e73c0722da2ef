// The typed walkd API client the CLI uses: HTTP over the Unix socket (default) or over TCP with a
// bearer token. It is the CLI's only way to act; it never touches walk's files directly.
import http from "node:http";
import { WalkError } from "../lib/index.js";
import { isErrorCode } from "../api/errors.js";
import type { CreateMachineRequest, MachineWire } from "../api/machine-schemas.js";
import type { AppWire, DeployRequest, DeployResultWire } from "../api/app-schemas.js";
import type { AppMetricsWire } from "../api/activator-schemas.js";
import type { DoctorWire, BaseBuildRequest, BaseImportRequest, BaseWire, BuildRequest, ImageDetailWire, ImageSummaryWire, JobWire, LoginRequest, PruneResultWire, PullRequest, RemoveImageResultWire } from "../api/schemas.js";

export const DEFAULT_SOCKET = "/run/walk/walkd.sock";

export type Endpoint = { kind: "unix"; path: string } | { kind: "tcp"; host: string; port: number; token: string | undefined };

/** Parses --host: "unix:///path", "/path", or "tcp://host:port". */
export function parseEndpoint(spec: string, token: string | undefined): Endpoint {
  if (spec.startsWith("unix://")) return { kind: "unix", path: spec.slice("unix://".length) };
  if (spec.startsWith("/")) return { kind: "unix", path: spec };
  const m = /^tcp:\/\/(\[[0-9a-fA-F:]+\]|[^:/]+):(\d+)\/?$/.exec(spec);
  if (m) return { kind: "tcp", host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]), token };
  throw new WalkError("invalid_argument", `--host must be unix:///PATH or tcp://HOST:PORT, got ${JSON.stringify(spec)}`);
}

function describe(ep: Endpoint): string {
  return ep.kind === "unix" ? ep.path : `${ep.host}:${ep.port}`;
}

export class WalkClient {
  constructor(readonly endpoint: Endpoint) {}

  version(): Promise<{ version: string; api_version: string }> {
    return this.json("GET", "/v1/version");
  }
  pull(req: PullRequest): Promise<JobWire> {
    return this.json("POST", "/v1/images/pull", req);
  }
  build(req: BuildRequest): Promise<JobWire> {
    return this.json("POST", "/v1/images/build", req);
  }
  doctor(): Promise<DoctorWire> {
    return this.json("GET", "/v1/doctor");
  }
  bases(): Promise<BaseWire[]> {
    return this.json("GET", "/v1/bases");
  }
  buildBase(req: BaseBuildRequest): Promise<JobWire> {
    return this.json("POST", "/v1/bases/build", req);
  }
  importBase(req: BaseImportRequest): Promise<BaseWire> {
    return this.json("POST", "/v1/bases/import", req);
  }
  setDefaultBase(version: string): Promise<BaseWire> {
    return this.json("PUT", "/v1/bases/default", { version });
  }
  images(): Promise<ImageSummaryWire[]> {
    return this.json("GET", "/v1/images");
  }
  image(ref: string): Promise<ImageDetailWire> {
    return this.json("GET", `/v1/images/${encodeURIComponent(ref)}`);
  }
  removeImage(ref: string): Promise<RemoveImageResultWire> {
    return this.json("DELETE", `/v1/images/${encodeURIComponent(ref)}`);
  }
  prune(): Promise<PruneResultWire> {
    return this.json("POST", "/v1/images/prune");
  }
  verifyLogin(req: LoginRequest): Promise<{ registry: string; ok: boolean }> {
    return this.json("POST", "/v1/registries/login", req);
  }
  job(id: string): Promise<JobWire> {
    return this.json("GET", `/v1/jobs/${id}`);
  }

  createMachine(req: CreateMachineRequest, idempotencyKey?: string): Promise<MachineWire> {
    return this.json("POST", "/v1/machines", req, idempotencyKey === undefined ? undefined : { "idempotency-key": idempotencyKey });
  }
  machines(all = false): Promise<MachineWire[]> {
    return this.json("GET", `/v1/machines${all ? "?all=true" : ""}`);
  }
  machine(ref: string): Promise<MachineWire> {
    return this.json("GET", `/v1/machines/${encodeURIComponent(ref)}`);
  }
  /** POST /v1/machines/{ref}/{start|stop|kill|restart}; `timeoutS` for stop and restart. */
  machineAction(ref: string, action: "start" | "stop" | "kill" | "restart", timeoutS?: number): Promise<MachineWire> {
    return this.json("POST", `/v1/machines/${encodeURIComponent(ref)}/${action}${timeoutS === undefined ? "" : `?timeout=${timeoutS}`}`);
  }
  removeMachine(ref: string, force = false): Promise<MachineWire> {
    return this.json("DELETE", `/v1/machines/${encodeURIComponent(ref)}${force ? "?force=true" : ""}`);
  }
  waitMachine(ref: string, opts: { state?: string; timeoutS?: number } = {}): Promise<MachineWire> {
    const q = new URLSearchParams({ ...(opts.state ? { state: opts.state } : {}), ...(opts.timeoutS !== undefined ? { timeout: String(opts.timeoutS) } : {}) }).toString();
    return this.json("GET", `/v1/machines/${encodeURIComponent(ref)}/wait${q ? `?${q}` : ""}`);
  }

  /** The machine's console output as it arrives; with follow, until it stops for good. */
  async *machineLogs(ref: string, opts: { follow?: boolean; since?: string } = {}): AsyncGenerator<Buffer> {
    const q = new URLSearchParams({ ...(opts.follow ? { follow: "true" } : {}), ...(opts.since !== undefined ? { since: opts.since } : {}) }).toString();
    const res = await this.request("GET", `/v1/machines/${encodeURIComponent(ref)}/logs${q ? `?${q}` : ""}`);
    if ((res.statusCode ?? 500) >= 400) throw await errorFrom(res);
    for await (const chunk of res) yield chunk as Buffer;
  }

  deploy(req: DeployRequest): Promise<DeployResultWire> {
    return this.json("POST", "/v1/apps", req);
  }
  apps(): Promise<AppWire[]> {
    return this.json("GET", "/v1/apps");
  }
  app(name: string): Promise<AppWire> {
    return this.json("GET", `/v1/apps/${encodeURIComponent(name)}`);
  }
  removeApp(name: string): Promise<AppWire> {
    return this.json("DELETE", `/v1/apps/${encodeURIComponent(name)}`);
  }
  /** The activator's status and metrics of each service of the app. */
  appMetrics(name: string): Promise<AppMetricsWire> {
    return this.json("GET", `/v1/apps/${encodeURIComponent(name)}/metrics`);
  }
  /** The console of the app's machines (or of the machine of one slot); with follow, while they run. */
  async *appLogs(name: string, opts: { follow?: boolean; machine?: number } = {}): AsyncGenerator<Buffer> {
    const q = new URLSearchParams({ ...(opts.follow === true ? { follow: "true" } : {}), ...(opts.machine !== undefined ? { machine: String(opts.machine) } : {}) }).toString();
    const res = await this.request("GET", `/v1/apps/${encodeURIComponent(name)}/logs${q ? `?${q}` : ""}`);
    if ((res.statusCode ?? 500) >= 400) throw await errorFrom(res);
    for await (const chunk of res) yield chunk as Buffer;
  }

  /** Follows a job's NDJSON event stream, yielding each event until the "end" event. */
  async *jobEvents(id: string): AsyncGenerator<{ type: string; [k: string]: unknown }> {
    const res = await this.request("GET", `/v1/jobs/${id}/events`);
    if ((res.statusCode ?? 500) >= 400) throw await errorFrom(res);
    let buf = "";
    for await (const chunk of res) {
      buf += (chunk as Buffer).toString("utf8");
      let nl: number;
      while ((nl = buf.indexOf("\n")) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() !== "") yield JSON.parse(line) as { type: string };
      }
    }
  }

  async json<T>(method: string, path: string, body?: unknown, extraHeaders?: http.OutgoingHttpHeaders): Promise<T> {
    const res = await this.request(method, path, body, extraHeaders);
    const text = await readAll(res, 64 << 20);
    if ((res.statusCode ?? 500) >= 400) throw errorFromText(res.statusCode ?? 500, text);
    return JSON.parse(text) as T;
  }

  private request(method: string, path: string, body?: unknown, extraHeaders?: http.OutgoingHttpHeaders): Promise<http.IncomingMessage> {
    const ep = this.endpoint;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: http.OutgoingHttpHeaders = { accept: "application/json", ...extraHeaders };
    if (payload) {
      headers["content-type"] = "application/json";
      headers["content-length"] = payload.length;
    }
    if (ep.kind === "tcp" && ep.token) headers.authorization = `Bearer ${ep.token}`;
    const target = ep.kind === "unix" ? { socketPath: ep.path, host: "localhost" } : { host: ep.host, port: ep.port };
    return new Promise((resolve, reject) => {
      const req = http.request({ ...target, method, path, headers, agent: false }, resolve);
      req.on("error", (err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT" || err.code === "ECONNREFUSED") {
          reject(
            new WalkError(
              "unavailable",
              `walkd is not running at ${describe(ep)}. Start it with \`sudo walkd\` (or point --host / WALK_HOST at a running one).`,
            ),
          );
        } else if (err.code === "EACCES") {
          reject(new WalkError("forbidden", `permission denied on ${describe(ep)}: run walk as root or as a member of the socket's group`));
        } else reject(err);
      });
      req.end(payload);
    });
  }
}

async function readAll(res: http.IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res) {
    n += (c as Buffer).length;
    if (n > limit) throw new WalkError("size_exceeded", "walkd's reply is too large");
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

async function errorFrom(res: http.IncomingMessage): Promise<WalkError> {
  return errorFromText(res.statusCode ?? 500, await readAll(res, 1 << 20));
}

function errorFromText(status: number, text: string): WalkError {
  try {
    const body = JSON.parse(text) as { error?: unknown; code?: unknown };
    if (typeof body.error === "string") return new WalkError(isErrorCode(body.code) ? body.code : "internal", body.error);
  } catch {
    // not the API's error shape; fall through
  }
  return new WalkError("internal", `walkd answered ${status}: ${text.slice(0, 500)}`);
}
