// The one table that maps WalkError codes to HTTP statuses, and back for the client. Every API
// error body has the shape {"error": "<message>", "code": "<code>"}.
import type { ErrorCode } from "../lib/index.js";

export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  invalid_argument: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  already_exists: 409,
  size_exceeded: 413,
  unsupported: 415,
  unprocessable: 422,
  canceled: 499,
  internal: 500,
  digest_mismatch: 502,
  unavailable: 503,
  timeout: 504,
};

export interface ErrorBody {
  error: string;
  code: ErrorCode;
}

const KNOWN = new Set(Object.keys(HTTP_STATUS));

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && KNOWN.has(code);
}
