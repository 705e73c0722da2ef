import { test } from "node:test";
import assert from "node:assert/strict";
import { RwLock } from "./rwlock.js";

const tick = () => new Promise((r) => setImmediate(r));

test("shared holders run together; an exclusive holder waits for them and runs alone", async () => {
  const lock = new RwLock();
  const log: string[] = [];
  let releaseA!: () => void;
  let releaseB!: () => void;
  const a = lock.shared(() => new Promise<void>((r) => { log.push("a+"); releaseA = () => { log.push("a-"); r(); }; }));
  const b = lock.shared(() => new Promise<void>((r) => { log.push("b+"); releaseB = () => { log.push("b-"); r(); }; }));
  await tick();
  const w = lock.exclusive(async () => { log.push("w"); });
  // A reader arriving after the waiting writer queues behind it.
  const c = lock.shared(async () => { log.push("c"); });
  await tick();
  assert.deepEqual(log, ["a+", "b+"]);
  releaseA();
  await tick();
  assert.deepEqual(log, ["a+", "b+", "a-"]);
  releaseB();
  await Promise.all([a, b, w, c]);
  assert.deepEqual(log, ["a+", "b+", "a-", "b-", "w", "c"]);
});

test("a failing holder releases the lock", async () => {
  const lock = new RwLock();
  await assert.rejects(lock.exclusive(async () => { throw new Error("boom"); }), /boom/);
  assert.equal(await lock.shared(async () => 7), 7);
});
