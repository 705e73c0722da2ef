// The kernel command line of a machine: the hostname and the image's StopSignal as walk.* params.
import { test } from "node:test";
import assert from "node:assert/strict";
import { machineBootArgs, stopSignalNumber } from "./bootargs.js";

test("StopSignal names and numbers map to what the init can deliver; others fall back to SIGTERM", () => {
  assert.equal(stopSignalNumber("SIGQUIT"), 3);
  assert.equal(stopSignalNumber("quit"), 3);
  assert.equal(stopSignalNumber("2"), 2);
  assert.equal(stopSignalNumber("SIGRTMIN+3"), undefined);
  for (const none of [null, undefined, "", "SIGKILL", "9", "SIGSTOP", "40", "SIGNOPE"]) assert.equal(stopSignalNumber(none), undefined, String(none));
});

test("the command line carries the hostname and the stop signal, and nothing user-typed beyond a validated label", () => {
  const line = machineBootArgs({ hostname: "web-1", stopSignal: 3 });
  assert.match(line, / walk\.hostname=web-1( |$)/);
  assert.match(line, / walk\.stopsig=3( |$)/);
  assert.match(line, /^console=ttyS0 .* init=\/sbin\/walk-init/);
  assert.doesNotMatch(machineBootArgs({ hostname: "web-1" }), /stopsig|walk\.agent/);
  assert.match(machineBootArgs({ hostname: "web-1", agent: true }), / walk\.agent=virtio-console( |$)/);
  assert.throws(() => machineBootArgs({ hostname: "Web 1" }), /guest parameter hostname is invalid/);
});
