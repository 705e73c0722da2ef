// Turns a registry's non-success reply into a WalkError a user can act on. Registry error bodies
// follow the distribution spec ({"errors":[{code,message,detail}]}) or are anything at all; they
// are read bounded and their text is sanitised before it reaches a message. 429 and 5xx replies
// are marked transient (with the server's Retry-After) for the retry policy.
import { WalkError, type ErrorCode } from "../../lib/errors.js";
import { readDiagnosticBody, type HttpResponse } from "./transport.js";
import { parseRetryAfter } from "./retry.js";

/** Error bodies are diagnostics only: beyond this they are cut, never buffered. */
export const ERROR_BODY_LIMIT = 64 * 1024;
const MAX_MESSAGE = 300;

export interface RegistryErrorEntry {
  code: string;
  message: string;
}

/** Parses a distribution-spec error body; anything else yields no entries. */
export function parseErrorBody(body: Buffer): RegistryErrorEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    return [];
  }
  const errors = (parsed as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors)) return [];
  const out: RegistryErrorEntry[] = [];
  for (const e of errors.slice(0, 10) as unknown[]) {
    const entry = e as { code?: unknown; message?: unknown } | null;
    if (typeof entry?.code !== "string") continue;
    out.push({ code: sanitize(entry.code), message: typeof entry.message === "string" ? sanitize(entry.message) : "" });
  }
  return out;
}

/** Keeps a peer-supplied string printable and short. */
export function sanitize(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").trim();
  return clean.length > MAX_MESSAGE ? `${clean.slice(0, MAX_MESSAGE)}...` : clean;
}

export interface ReplyContext {
  /** The registry host, e.g. "registry-1.docker.io". */
  registry: string;
  /** What was being fetched, e.g. `manifest docker.io/library/nginx:latest`. */
  what: string;
  /** Appended to an unauthorized message: what the user can change. */
  authHint?: string;
}

/**
 * The error for an unexpected status. 401/403 mean access was refused; callers that sent
 * credentials say so through `credentialsSent`, which changes the advice in the message.
 */
export function replyError(status: number, body: Buffer, ctx: ReplyContext, credentialsSent = false, retryAfter?: string): WalkError {
  const entries = parseErrorBody(body);
  const codes = new Set(entries.map((e) => e.code));
  const said = entries.map((e) => (e.message === "" ? e.code : `${e.code}: ${e.message}`)).join("; ");
  const suffix = said === "" ? "" : ` (registry said: ${said})`;
  const details: Record<string, unknown> = { registry: ctx.registry, status, registry_codes: [...codes] };
  let code: ErrorCode;
  let message: string;
  if (status === 401 || status === 403 || codes.has("UNAUTHORIZED") || codes.has("DENIED")) {
    code = "unauthorized";
    message = credentialsSent
      ? `registry ${ctx.registry} rejected the credentials for ${ctx.what}; check them with walk login ${ctx.registry}`
      : `registry ${ctx.registry} refused anonymous access to ${ctx.what}; ${ctx.authHint ?? `if it needs credentials run walk login ${ctx.registry}`}`;
  } else if (status === 404 || codes.has("MANIFEST_UNKNOWN") || codes.has("BLOB_UNKNOWN") || codes.has("NAME_UNKNOWN")) {
    code = "not_found";
    message = `${ctx.what} was not found on registry ${ctx.registry}`;
  } else if (status === 429 || status >= 500) {
    code = "unavailable";
    message = `registry ${ctx.registry} answered ${status} for ${ctx.what}`;
    details.transient = true;
    const delay = parseRetryAfter(retryAfter);
    if (delay !== undefined) details.retry_after_ms = delay;
  } else if (codes.has("UNSUPPORTED") || status === 415) {
    code = "unsupported";
    message = `registry ${ctx.registry} does not support the request for ${ctx.what} (${status})`;
  } else {
    code = "unavailable";
    message = `registry ${ctx.registry} answered ${status} for ${ctx.what}`;
  }
  return new WalkError(code, message + suffix, { details });
}

/** Reads (bounded) the body of a failed reply and returns the error describing it. */
export async function errorFromReply(res: HttpResponse, ctx: ReplyContext, credentialsSent = false): Promise<WalkError> {
  const body = await readDiagnosticBody(res, ERROR_BODY_LIMIT);
  const retryAfter = res.headers["retry-after"];
  return replyError(res.status, body, ctx, credentialsSent, typeof retryAfter === "string" ? retryAfter : undefined);
}
