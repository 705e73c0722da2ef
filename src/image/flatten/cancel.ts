// Cancellation of a build: an aborted AbortSignal becomes WalkError "canceled", so callers see
// one error type whatever step the build was in.
import { WalkError } from "../../lib/errors.js";

export function throwIfCanceled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new WalkError("canceled", "the app disk build was canceled");
}
