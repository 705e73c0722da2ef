import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isWalkError } from "../lib/index.js";
import { spawnVmm } from "./process.js";

test("a VMM that exits at once always has its exit reported (never a handle whose exit nobody heard)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "walk-spawn-"));
  try {
    for (let i = 0; i < 30; i++) {
      let exitedOrThrew: Promise<unknown>;
      try {
        const p = await spawnVmm("/bin/false", [], join(dir, "console.log"), join(dir, "stderr.log"));
        exitedOrThrew = p.exited.then((e) => assert.equal(e.code, 1));
      } catch (err) {
        assert.ok(isWalkError(err, "internal") && /exited at once \(exit code 1\)/.test(err.message), String(err));
        continue;
      }
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`run ${i}: the exit of /bin/false was never reported`)), 5000)));
      await Promise.race([exitedOrThrew, bound]).finally(() => clearTimeout(timer));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a binary that cannot be started is unavailable, naming it", async () => {
  const dir = await mkdtemp(join(tmpdir(), "walk-spawn-"));
  try {
    await assert.rejects(spawnVmm(join(dir, "missing-vmm"), [], join(dir, "c.log"), join(dir, "e.log")), (e: unknown) => isWalkError(e, "unavailable") && e.message.includes("missing-vmm"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
