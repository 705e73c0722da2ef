// One app's machine slots: the AppSlot of each slot (made on first use), the lock that keeps the
// app's deploys and removal one at a time, the gate that holds the slots' wakes while a deploy
// records its generation (the activator may wake instances as soon as it has the new routes), and
// the mark that stops them once the app is being removed. Holds no policy: rollout.ts and
// service.ts decide what to do with the slots.
import { AppSlot, type AppSlotDeps } from "./backend.js";

export type AppFleetDeps = Omit<AppSlotDeps, "recorded" | "removed">;

export class AppFleet {
  private readonly slots = new Map<number, AppSlot>();
  private lock: Promise<unknown> = Promise.resolve();
  private gate: Promise<void> = Promise.resolve();
  private removing = false;

  constructor(
    readonly app: string,
    private readonly deps: AppFleetDeps,
  ) {}

  slot(index: number): AppSlot {
    let s = this.slots.get(index);
    if (s === undefined) {
      s = new AppSlot(this.app, index, { ...this.deps, recorded: () => this.gate, removed: () => this.removing });
      this.slots.set(index, s);
    }
    return s;
  }

  /** Runs `fn` after the app's previous deploy or removal, and before the next. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => undefined);
    return next;
  }

  /** Runs `fn`, which gives the activator new routes and records a generation, while the slots' wakes wait. */
  async recording<T>(fn: () => Promise<T>): Promise<T> {
    let open = (): void => undefined;
    this.gate = new Promise<void>((r) => (open = r));
    try {
      return await fn();
    } finally {
      open();
    }
  }

  /** Removes the machines of `slots` (all the app has); no wake creates one again. */
  async removeAll(slots: readonly number[]): Promise<void> {
    this.removing = true;
    try {
      for (const i of slots) await this.slot(i).remove();
    } catch (err) {
      this.removing = false; // the app stays, and may be deployed again
      throw err;
    }
  }

  /** Stops watching machines; machines are left as they are. */
  close(): void {
    for (const s of this.slots.values()) s.close();
  }
}
