import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE_BOOT_ARGS, guestCmdline } from "./cmdline.js";
import { isWalkError } from "../lib/errors.js";

test("guestCmdline renders the fixed boot flags and every walk.* parameter", () => {
  const line = guestCmdline({
    ip: { address: "10.0.0.2", prefix: 24 },
    gateway: "10.0.0.1",
    dns: ["1.1.1.1", "9.9.9.9"],
    mtu: 1400,
    hostname: "web-1",
    graceSeconds: 5,
    stopSignal: 3,
    agent: "virtio-console",
  });
  assert.equal(
    line,
    `${BASE_BOOT_ARGS.join(" ")} walk.ip=10.0.0.2/24 walk.gw=10.0.0.1 walk.dns=1.1.1.1,9.9.9.9 walk.mtu=1400 walk.hostname=web-1 walk.grace=5 walk.stopsig=3 walk.agent=virtio-console`,
  );
  assert.equal(guestCmdline(), BASE_BOOT_ARGS.join(" "));
});

test("guestCmdline refuses what walk-init would refuse", () => {
  const bad: Array<Parameters<typeof guestCmdline>[0]> = [
    { ip: { address: "10.0.0.256", prefix: 24 } },
    { ip: { address: "10.0.0.02", prefix: 24 } },
    { ip: { address: "10.0.0.2", prefix: 0 } },
    { gateway: "10.0.0.1" },
    { ip: { address: "10.0.0.2", prefix: 24 }, gateway: "10.0.1.1" },
    { dns: ["1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4"] },
    { dns: ["dns.google"] },
    { mtu: 67 },
    { hostname: "Web" },
    { hostname: "a b" },
    { hostname: "x".repeat(64) },
    { hostname: "-a" },
    { graceSeconds: 3601 },
    { graceSeconds: 1.5 },
    { stopSignal: 9 },
    { stopSignal: 32 },
  ];
  for (const p of bad) {
    assert.throws(() => guestCmdline(p), (e) => isWalkError(e, "invalid_argument") && /guest parameter/.test(e.message), JSON.stringify(p));
  }
  assert.doesNotThrow(() => guestCmdline({ ip: { address: "10.0.0.2", prefix: 32 }, gateway: "10.0.0.2" }));
});
