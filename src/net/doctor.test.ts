import { test } from "node:test";
import assert from "node:assert/strict";
import { execChecked } from "../lib/index.js";
import { DEFAULT_NET_CONFIG } from "./config.js";
import { networkHostProblems } from "./doctor.js";

test("a missing network namespace is reported with its fix", async () => {
  const problems = await networkHostProblems({ ...DEFAULT_NET_CONFIG, dns: { mode: "none" }, netns: "walk-doctor-missing" });
  assert.equal(problems.length, 1);
  assert.match(problems[0]!.problem, /network namespace walk-doctor-missing \(network\.netns\) does not exist/);
  assert.match(problems[0]!.fix, /ip netns add walk-doctor-missing/);
});

test("a host with the tools, /dev/net/tun and the namespace has no problems", async () => {
  const ns = `wtdoctor${process.pid}`;
  await execChecked("ip", ["netns", "add", ns]);
  try {
    assert.deepEqual(await networkHostProblems({ ...DEFAULT_NET_CONFIG, dns: { mode: "none" }, netns: ns }), []);
  } finally {
    await execChecked("ip", ["netns", "del", ns]);
  }
});
