// One walkd per data dir. The lock is a file created with O_EXCL holding the owner's pid and
// process start time; a lock whose owner is gone (or whose pid was reused by another process) is
// stale and taken over.
import { promises as fs, readFileSync } from "node:fs";
import { join } from "node:path";
import { WalkError } from "../lib/index.js";

export interface DaemonLock {
  path: string;
  release(): Promise<void>;
}

/** The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or null if it is gone. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces and parentheses; fields after it follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

export async function acquireDaemonLock(dataDir: string): Promise<DaemonLock> {
  const path = join(dataDir, "walkd.lock");
  const mine = `${process.pid} ${processStartTime(process.pid) ?? "?"}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await fs.open(path, "wx", 0o644);
      await fh.writeFile(mine);
      await fh.sync();
      await fh.close();
      return {
        path,
        release: async () => {
          const now = await fs.readFile(path, "utf8").catch(() => "");
          if (now === mine) await fs.rm(path, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const [pidText, start] = (await fs.readFile(path, "utf8").catch(() => "")).trim().split(" ");
    const pid = Number(pidText);
    if (Number.isInteger(pid) && pid > 0 && processStartTime(pid) === start) {
      throw new WalkError("conflict", `another walkd (pid ${pid}) is using the data dir ${dataDir}`);
    }
    // Stale: its owner is gone. Move it aside first so two starters cannot both delete a fresh lock.
    const aside = `${path}.stale-${process.pid}`;
    await fs.rename(path, aside).catch(() => undefined);
    await fs.rm(aside, { force: true });
  }
  throw new WalkError("conflict", `could not take the lock ${path}; is another walkd starting?`);
}
