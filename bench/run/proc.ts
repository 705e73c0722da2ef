// What the machines benchmark reads about host processes from /proc: CPU time, resident memory,
// and which processes name a given string on their command line (to find a machine's QEMU, and
// leftovers under the bench's own temp dir). Reads only; it signals nothing.
import { readFile, readdir } from "node:fs/promises";

/** USER_HZ: /proc reports CPU times in clock ticks of 10 ms on Linux. */
const TICK_MS = 10;

/** Fields after the command name of /proc/PID/stat (the name may contain spaces and parentheses). */
async function statFields(pid: number | "self"): Promise<string[] | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** User + system CPU time of a running process, in ms (10 ms resolution); undefined once it is gone. */
export async function cpuMsOf(pid: number): Promise<number | undefined> {
  const f = await statFields(pid);
  // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the name.
  return f ? (Number(f[11]) + Number(f[12])) * TICK_MS : undefined;
}

/** When a process started, in ms of system uptime (10 ms resolution), to compare with uptimeMs(). */
export async function startUptimeMsOf(pid: number): Promise<number | undefined> {
  const f = await statFields(pid);
  // starttime is field 22 of stat(5), in ticks since boot.
  return f ? Number(f[19]) * TICK_MS : undefined;
}

/** The system's uptime now, in ms (/proc/uptime has 10 ms resolution). */
export async function uptimeMs(): Promise<number> {
  return Number((await readFile("/proc/uptime", "utf8")).split(" ")[0]) * 1000;
}

/** CPU time of the reaped children of this process (the CLIs the bench ran), in ms. */
export async function reapedChildrenCpuMs(): Promise<number> {
  const f = await statFields("self");
  // cutime and cstime: fields 16 and 17 of stat(5).
  return f ? (Number(f[13]) + Number(f[14])) * TICK_MS : 0;
}

export interface Rss {
  /** VmRSS: every resident page, shared ones (the node binary, libraries) included. */
  rssKib: number;
  /** RssAnon: private memory (heap, stacks): what a process costs beyond shared files. */
  anonKib: number;
}

export async function rssOf(pid: number): Promise<Rss | undefined> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => undefined);
  if (status === undefined) return undefined;
  const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rssKib: kib("VmRSS"), anonKib: kib("RssAnon") };
}

/** Pids whose command line contains every one of `needles` (each as an argument or part of one). */
export async function pidsWithArgs(...needles: string[]): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    if (needles.every((n) => cmdline.includes(n))) out.push(Number(name));
  }
  return out;
}
