// The read-ahead buffer: same bytes in the same order, bounded, errors passed on, and an early
// exit closes the source.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readAhead } from "./read-ahead.js";

void test("read-ahead: yields every chunk in order and never holds more than its budget", async () => {
  let pulled = 0;
  let consumed = 0;
  let maxAhead = 0;
  async function* source(): AsyncGenerator<Uint8Array, void, undefined> {
    for (let i = 0; i < 100; i++) {
      pulled += 10;
      maxAhead = Math.max(maxAhead, pulled - consumed);
      yield Buffer.alloc(10, i);
    }
  }
  const seen: number[] = [];
  for await (const c of readAhead(source(), 35)) {
    consumed += c.length;
    seen.push(c[0] ?? -1);
    await new Promise((r) => setImmediate(r)); // a slow consumer, so the pump runs ahead
  }
  assert.deepEqual(seen, Array.from({ length: 100 }, (_, i) => i));
  assert.ok(maxAhead > 10, "the source was never read ahead");
  assert.ok(maxAhead <= 35 + 10 + 10, `read ${maxAhead} bytes ahead with a budget of 35`);
});

void test("read-ahead: a source error reaches the consumer; an early exit closes the source", async () => {
  async function* failing(): AsyncGenerator<Uint8Array, void, undefined> {
    yield Buffer.from("a");
    throw new Error("disk on fire");
  }
  await assert.rejects(async () => {
    for await (const _ of readAhead(failing(), 1024)) void _;
  }, /disk on fire/);

  let closed = false;
  async function* endless(): AsyncGenerator<Uint8Array, void, undefined> {
    try {
      for (;;) yield Buffer.from("x");
    } finally {
      closed = true;
    }
  }
  for await (const _ of readAhead(endless(), 16)) break;
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(closed, "the source was not closed after the consumer stopped");
});
