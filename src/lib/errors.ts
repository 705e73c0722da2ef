// The one error type of walk.io. Every failure a user can see carries a stable code; the API maps
// codes to HTTP statuses in exactly one table (src/api/errors.ts). Nothing here knows about HTTP.

export type ErrorCode =
  | "invalid_argument" // the caller's input is malformed
  | "not_found"
  | "already_exists"
  | "conflict" // the resource is in a state that forbids the operation
  | "unauthorized" // credentials missing or rejected
  | "forbidden"
  | "digest_mismatch" // content does not hash to what it was declared as
  | "size_exceeded" // a bounded read or a configured limit was exceeded
  | "unsupported" // a media type, platform, feature or format walk does not handle
  | "timeout"
  | "unavailable" // a dependency (registry, daemon, tool) cannot be reached
  | "unprocessable" // well-formed but semantically invalid (e.g. idempotency key reuse)
  | "canceled"
  | "internal";

export class WalkError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "WalkError";
    this.code = code;
    this.details = options?.details;
  }
}

export function isWalkError(err: unknown, code?: ErrorCode): err is WalkError {
  return err instanceof WalkError && (code === undefined || err.code === code);
}

/** Wraps any thrown value as a WalkError, keeping WalkErrors as they are. */
export function asWalkError(err: unknown, fallback: ErrorCode = "internal"): WalkError {
  if (err instanceof WalkError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new WalkError(fallback, message, { cause: err });
}
