// The per-namespace claim: one holder at a time, free again after release.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { claimNetworkNamespace } from "./owner.js";

test("a namespace claim has one holder; released, it can be taken again", async () => {
  const name = `\0walk-owner-test-${randomBytes(4).toString("hex")}`;
  const first = await claimNetworkNamespace(name);
  assert.ok(first);
  assert.equal(await claimNetworkNamespace(name), undefined);
  await first.release();
  const again = await claimNetworkNamespace(name);
  assert.ok(again);
  await again.release();
});
