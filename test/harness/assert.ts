// Assertions shared by tests: a rejection that must be a WalkError with a given code and message.
import assert from "node:assert/strict";
import { isWalkError } from "../../src/lib/index.js";

/** `p` rejects with a WalkError of `code` whose message matches `message`. */
export const rejectsWith = (p: Promise<unknown>, code: string, message: RegExp): Promise<void> =>
  assert.rejects(p, (e: unknown) => {
    assert.ok(isWalkError(e), String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  });
