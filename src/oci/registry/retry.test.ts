import { test } from "node:test";
import assert from "node:assert/strict";
import { WalkError, isWalkError } from "../../lib/errors.js";
import { parseRetryAfter, retryDelay, withRetry } from "./retry.js";
import { transientError } from "./transport.js";

test("Retry-After as seconds or an HTTP-date", () => {
  const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
  assert.equal(parseRetryAfter("120", now), 120_000);
  assert.equal(parseRetryAfter(" 0 ", now), 0);
  assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", now), 30_000);
  assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now), 0, "a date in the past means now");
  assert.equal(parseRetryAfter("soon", now), undefined);
  assert.equal(parseRetryAfter("-5", now), undefined);
  assert.equal(parseRetryAfter(undefined, now), undefined);
});

test("backoff grows exponentially within its cap; Retry-After wins but is capped", () => {
  for (let i = 0; i < 50; i++) {
    assert.ok(retryDelay(1, new Error("x"), { baseDelayMs: 100 }) <= 100);
    assert.ok(retryDelay(4, new Error("x"), { baseDelayMs: 100 }) <= 800);
    assert.ok(retryDelay(20, new Error("x"), { baseDelayMs: 100, maxDelayMs: 1000 }) <= 1000);
  }
  assert.equal(retryDelay(1, transientError("unavailable", "429", undefined, 5000), {}), 5000);
  assert.equal(retryDelay(1, transientError("unavailable", "429", undefined, 999_999), { maxDelayMs: 2000 }), 2000);
});

test("transient failures are retried up to the attempt bound; others are not", async () => {
  let calls = 0;
  const result = await withRetry("x", async () => {
    if (++calls < 3) throw transientError("unavailable", "reset");
    return "ok";
  }, { attempts: 3, baseDelayMs: 1 });
  assert.equal(result, "ok");
  assert.equal(calls, 3);

  calls = 0;
  await assert.rejects(withRetry("x", async () => {
    calls++;
    throw transientError("unavailable", "still down");
  }, { attempts: 2, baseDelayMs: 1 }), /still down/);
  assert.equal(calls, 2);

  calls = 0;
  await assert.rejects(withRetry("x", async () => {
    calls++;
    throw new WalkError("not_found", "gone");
  }, { attempts: 5, baseDelayMs: 1 }), /gone/);
  assert.equal(calls, 1);

  calls = 0;
  const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
  await assert.rejects(withRetry("x", async () => {
    calls++;
    throw reset;
  }, { attempts: 2, baseDelayMs: 1 }), /hang up/);
  assert.equal(calls, 2, "a raw connection reset counts as transient");
});

test("an abort during the backoff wait ends with canceled", async () => {
  const ac = new AbortController();
  const p = withRetry("x", async () => {
    setTimeout(() => ac.abort(), 5);
    throw transientError("unavailable", "429", undefined, 60_000);
  }, { attempts: 3 }, ac.signal);
  await assert.rejects(p, (err: unknown) => isWalkError(err, "canceled"));
});
