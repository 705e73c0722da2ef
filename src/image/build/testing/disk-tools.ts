// Test support: reading built disks back with e2fsprogs (debugfs, e2fsck), the oracle the ext4
// output is checked against. Never used by production code.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

/** Runs one debugfs request against `disk` (read-only) and returns its raw stdout. */
export function debugfs(disk: string, command: string): Buffer {
  const r = spawnSync("debugfs", ["-R", command, disk], { maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout;
}

/** Fails unless `e2fsck -fn` finds nothing at all to report. */
export function assertFsckClean(disk: string): void {
  const r = spawnSync("e2fsck", ["-fn", disk], { encoding: "utf8" });
  assert.equal(r.status, 0, `e2fsck -fn ${disk}: ${r.stdout}${r.stderr}`);
}
