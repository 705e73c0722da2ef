import { test } from "node:test";
import assert from "node:assert/strict";
import { place, type InstanceLoad, type InstanceState } from "./placement.js";

const at = (...xs: Array<[InstanceState, number?, boolean?]>): InstanceLoad[] => xs.map(([state, inFlight = 0, canWake = true]) => ({ state, inFlight, canWake }));

test("placement: the least-loaded ready instance below soft, ties to the lowest index; nothing wakes", () => {
  assert.deepEqual(place(at(["ready", 0], ["ready", 0], ["stopped"]), 2, 4), { use: 0 });
  assert.deepEqual(place(at(["ready", 1], ["ready", 0]), 2, 4), { use: 1 });
  assert.deepEqual(place(at(["stopped"], ["ready", 1]), 2, 4), { use: 1 });
});

test("placement: every ready instance at soft wakes the lowest stopped one, and the request goes below hard meanwhile", () => {
  assert.deepEqual(place(at(["ready", 2], ["ready", 3], ["stopped"], ["stopped"]), 2, 4), { use: 0, wake: 2 });
  assert.deepEqual(place(at(["ready", 4], ["stopped"]), 2, 4), { wake: 1 }, "at hard everywhere: the request waits");
  assert.deepEqual(place(at(["ready", 2], ["waking"], ["stopped"]), 2, 4), { use: 0 }, "one wake at a time");
  assert.deepEqual(place(at(["ready", 2], ["idling"]), 2, 4), { use: 0 }, "an idling instance is not woken");
});

test("placement: cold, the lowest stopped instance wakes, even while it backs off; a backing-off instance is not used to scale out", () => {
  assert.deepEqual(place(at(["stopped", 0, false], ["stopped"]), 2, 4), { wake: 0 });
  assert.deepEqual(place(at(["idling"], ["stopped"]), 2, 4), { wake: 1 });
  assert.deepEqual(place(at(["waking"], ["stopped"]), 2, 4), {});
  assert.deepEqual(place(at(["ready", 2], ["stopped", 0, false], ["stopped"]), 2, 4), { use: 0, wake: 2 });
});

test("placement: a soft limit above the hard one acts as the hard one", () => {
  assert.deepEqual(place(at(["ready", 1], ["stopped"]), 32, 1), { wake: 1 });
});
