// The per-machine state disk (vdc): made on first start with mkfs.ext4 (sparse, so --disk costs
// only what the guest writes), published atomically, kept across restarts, removed with the
// machine. The host never mounts or reads it: a guest has written to it (DESIGN, security).
import { promises as fs } from "node:fs";
import { WalkError, execChecked, publishFile, tempPathFor } from "../lib/index.js";

/** Creates the state disk unless it exists. True when it was created now. */
export async function ensureStateDisk(path: string, sizeMib: number): Promise<boolean> {
  try {
    const st = await fs.lstat(path);
    if (st.isFile()) return false;
    // Not a regular file at walk's own path: leave it for an operator rather than guess.
    throw new WalkError("conflict", `the state disk path ${path} exists and is not a regular file; walk will not touch it`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  const tmp = tempPathFor(path);
  try {
    // -E root_owner: the guest's init makes upper/ and work/ as root; lazy init keeps mkfs fast.
    await execChecked("mkfs.ext4", ["-q", "-F", "-L", "walk-state", "-E", "root_owner=0:0,lazy_itable_init=1", tmp, `${sizeMib}M`], { timeoutMs: 120_000 });
    const fh = await fs.open(tmp, "r+");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await publishFile(tmp, path);
    return true;
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}
