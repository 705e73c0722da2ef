// Test harness: a scratch directory holding a mount point, for tests that loop-mount a disk. Its
// cleanup unmounts before it removes: removing the tree with a filesystem still mounted in it
// would delete that filesystem's contents.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";

/** A new `<tmp>/<prefix>XXXXXX` with an empty `mnt` in it; both go once the test ends. */
export function scratchWithMountPoint(t: TestContext, prefix: string): { work: string; mnt: string } {
  const work = mkdtempSync(join(tmpdir(), prefix));
  const mnt = join(work, "mnt");
  mkdirSync(mnt);
  t.after(() => {
    spawnSync("umount", [mnt]);
    rmSync(work, { recursive: true, force: true });
  });
  return { work, mnt };
}
