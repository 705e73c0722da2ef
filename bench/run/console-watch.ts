// When each walk machine's workload first printed: watches walkd's machines dir
// (DATA/machines/<id>/console.log, which QEMU appends the serial console to directly) with
// inotify and notes the moment a marker shows up in a console. That is the earliest point on the
// host where the output exists, the same point the hand-run QEMU's pipe gives; `walk logs -f`
// delivers it later (its poll interval), which the bench measures separately. A slow poll backs
// up inotify for files that appeared before their directory was watched.
import { watch, type FSWatcher } from "node:fs";
import { open, readdir } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

const ID = /^[0-9a-f]{32}$/;
const POLL_MS = 100;
/** Bytes of console scanned per machine: the marker is the workload's first line, after a quiet boot. */
const MAX_SCAN = 4 << 20;

interface Tracked {
  dirWatch: FSWatcher | undefined;
  offset: number;
  carry: string;
  at: number | undefined;
  waiters: Array<(at: number) => void>;
  reading: boolean;
}

export class FirstOutputWatcher {
  private readonly machines = new Map<string, Tracked>();
  private readonly rootWatch: FSWatcher;
  private readonly poll: NodeJS.Timeout;

  /** `machinesDir` must exist; `marker` must not occur in a console before the workload prints it. */
  constructor(
    private readonly machinesDir: string,
    private readonly marker: string,
  ) {
    this.rootWatch = watch(machinesDir, () => void this.scanRoot());
    this.rootWatch.on("error", () => undefined);
    this.poll = setInterval(() => {
      void this.scanRoot();
      for (const id of this.machines.keys()) this.track(id);
    }, POLL_MS);
    void this.scanRoot();
  }

  /** performance.now() of the moment the marker was first seen in machine `id`'s console. */
  firstOutput(id: string, timeoutMs: number): Promise<number> {
    const t = this.track(id);
    if (t.at !== undefined) return Promise.resolve(t.at);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`machine ${id} printed no ${JSON.stringify(this.marker)} within ${timeoutMs} ms`)), timeoutMs);
      t.waiters.push((at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }

  close(): void {
    clearInterval(this.poll);
    this.rootWatch.close();
    for (const t of this.machines.values()) t.dirWatch?.close();
  }

  private async scanRoot(): Promise<void> {
    const names = await readdir(this.machinesDir).catch(() => [] as string[]);
    for (const n of names) if (ID.test(n)) this.track(n);
  }

  private track(id: string): Tracked {
    let t = this.machines.get(id);
    if (!t) {
      t = { dirWatch: undefined, offset: 0, carry: "", at: undefined, waiters: [], reading: false };
      this.machines.set(id, t);
    }
    // The dir may not exist yet (firstOutput before walk's mkdir): the poll tries again.
    if (t.dirWatch === undefined && t.at === undefined) t.dirWatch = tryWatch(join(this.machinesDir, id), () => void this.read(id));
    void this.read(id);
    return t;
  }

  private async read(id: string): Promise<void> {
    const t = this.machines.get(id);
    if (!t || t.at !== undefined || t.reading) return;
    t.reading = true;
    try {
      const fh = await open(join(this.machinesDir, id, "console.log"), "r").catch(() => undefined);
      if (!fh) return;
      try {
        const buf = Buffer.alloc(64 * 1024);
        while (t.offset < MAX_SCAN) {
          const { bytesRead } = await fh.read(buf, 0, buf.length, t.offset);
          if (bytesRead === 0) break;
          t.offset += bytesRead;
          const text = t.carry + buf.subarray(0, bytesRead).toString("latin1");
          if (text.includes(this.marker)) {
            this.found(t);
            return;
          }
          t.carry = text.slice(-this.marker.length);
        }
      } finally {
        await fh.close();
      }
    } finally {
      t.reading = false;
    }
    // Bytes may have landed while this read ran and its event was skipped.
    if (t.at === undefined && t.dirWatch !== undefined) setImmediate(() => void this.readIfGrown(id));
  }

  private async readIfGrown(id: string): Promise<void> {
    const t = this.machines.get(id);
    if (!t || t.at !== undefined) return;
    const fh = await open(join(this.machinesDir, id, "console.log"), "r").catch(() => undefined);
    if (!fh) return;
    const size = (await fh.stat()).size;
    await fh.close();
    if (size > t.offset) await this.read(id);
  }

  private found(t: Tracked): void {
    t.at = performance.now();
    t.dirWatch?.close();
    for (const w of t.waiters.splice(0)) w(t.at);
  }
}

/** A watch on `path`, or undefined when it does not exist (yet); a removed dir ends its watch quietly. */
function tryWatch(path: string, onEvent: () => void): FSWatcher | undefined {
  try {
    const w = watch(path, onEvent);
    w.on("error", () => w.close());
    return w;
  } catch {
    return undefined;
  }
}
