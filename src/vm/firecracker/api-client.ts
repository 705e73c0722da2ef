// HTTP/1.1 over Firecracker's API Unix socket: one connection per request, a timeout per request,
// bounded response bodies, and Firecracker's faults (`{"fault_message": ...}`) turned into
// WalkErrors that name the request. Knows nothing of what the requests mean (requests.ts does).
import http from "node:http";
import { WalkError, readBounded, type ErrorCode } from "../../lib/index.js";
import type { ApiRequest } from "./requests.js";

/** Firecracker's replies are small JSON objects; anything bigger is not Firecracker. */
export const MAX_RESPONSE_BYTES = 64 * 1024;

export class FirecrackerApiClient {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs: number,
  ) {}

  /** Sends one request. Resolves with the parsed body of a 200, undefined for a 204. */
  async send(req: ApiRequest, opts: { timeoutMs?: number } = {}): Promise<unknown> {
    const name = `${req.method} ${req.path}`;
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
    const { status, body } = await this.exchange(name, req, payload, timeoutMs);
    if (status === 204) return undefined;
    if (status === 200) {
      try {
        return JSON.parse(body.toString("utf8")) as unknown;
      } catch {
        throw new WalkError("internal", `Firecracker answered ${name} with a body that is not JSON`, { details: { request: name } });
      }
    }
    throw faultError(name, status, body);
  }

  private exchange(name: string, req: ApiRequest, payload: Buffer | undefined, timeoutMs: number): Promise<{ status: number; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { Accept: "application/json" };
      if (payload !== undefined) {
        headers["Content-Type"] = "application/json";
        headers["Content-Length"] = payload.length;
      }
      const httpReq = http.request({ socketPath: this.socketPath, method: req.method, path: req.path, headers, agent: false }, (res) => {
        readBounded(res, MAX_RESPONSE_BYTES, `Firecracker's reply to ${name}`).then(
          (body) => {
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, body });
          },
          (err: unknown) => {
            clearTimeout(timer);
            res.destroy();
            reject(err instanceof WalkError ? err : transportError(name, this.socketPath, err));
          },
        );
      });
      const timer = setTimeout(() => {
        httpReq.destroy(new WalkError("timeout", `Firecracker did not answer ${name} within ${timeoutMs} ms (API socket ${this.socketPath})`, { details: { request: name } }));
      }, timeoutMs);
      httpReq.on("error", (err) => {
        clearTimeout(timer);
        reject(err instanceof WalkError ? err : transportError(name, this.socketPath, err));
      });
      httpReq.end(payload);
    });
  }
}

const STATUS_CODES: Record<number, ErrorCode> = { 400: "invalid_argument", 404: "not_found", 408: "timeout", 409: "conflict", 504: "timeout" };

/** Maps a non-success reply to a WalkError quoting Firecracker's fault message. */
export function faultError(name: string, status: number, body: Buffer): WalkError {
  let fault: string | undefined;
  try {
    const parsed = JSON.parse(body.toString("utf8")) as { fault_message?: unknown };
    if (typeof parsed.fault_message === "string") fault = parsed.fault_message;
  } catch {
    // Not JSON: reported below without a fault message.
  }
  const code = STATUS_CODES[status] ?? "internal";
  const what = fault === undefined ? "with no fault message" : JSON.stringify(fault.slice(0, 2000));
  return new WalkError(code, `Firecracker rejected ${name} (HTTP ${status}): ${what}`, {
    details: { request: name, status, ...(fault === undefined ? {} : { fault_message: fault }) },
  });
}

function transportError(name: string, socketPath: string, err: unknown): WalkError {
  const code = (err as NodeJS.ErrnoException).code;
  const reason = err instanceof Error ? err.message : String(err);
  if (code === "ENOENT" || code === "ECONNREFUSED") {
    return new WalkError("unavailable", `Firecracker's API socket ${socketPath} does not accept connections (${code}) for ${name}; the VMM is not running`, { cause: err, details: { request: name } });
  }
  return new WalkError("unavailable", `${name} on Firecracker's API socket ${socketPath} failed: ${reason}`, { cause: err, details: { request: name } });
}
