// One app's lifecycle as the activator sees it: stopped -> waking -> ready -> idling -> stopped.
// Owns the single-flight wake, the wake budget, the wait queue and its limit, hard concurrency,
// the idle clock and the keep-alive pool to the current backend. Never touches client sockets:
// callers get a Lease (or a Refusal) and do the proxying.
import { WalkError, type Logger } from "../lib/index.js";
import type { AppMetrics, RefusalCause } from "./metrics.js";
import { waitReady } from "./readiness.js";
import { UpstreamPool } from "./upstream-pool.js";
import type { AppLimits, AppRoute, BackendTarget, WakeKind, WakeResult } from "./types.js";

/** The activator answers a request itself, for this cause. */
export class Refusal extends Error {
  constructor(readonly refusal: RefusalCause) {
    super(refusal);
    this.name = "Refusal";
  }
}

export interface WakeInfo {
  kind: WakeKind;
  /** From the start of the wake until the backend was ready (wake() plus readiness). */
  durMs: number;
}

interface Ready {
  readonly target: BackendTarget;
  readonly pool: UpstreamPool;
  readonly info: WakeInfo;
  readonly readyAt: number;
  /** Leases on this backend still open; its pool is destroyed when it is retired and this is 0. */
  leases: number;
  retired: boolean;
}

type State = { kind: "stopped" } | { kind: "waking"; promise: Promise<Ready> } | { kind: "ready"; ready: Ready } | { kind: "idling"; promise: Promise<void> };

export type AppState = State["kind"];

export interface Lease {
  readonly target: BackendTarget;
  readonly pool: UpstreamPool;
  /** Set when this request waited for a wake (it started it or joined it). */
  readonly wake: WakeInfo | undefined;
  /** The backend could not be reached: retire it so the next request wakes it again. */
  unreachable(): void;
  /** Ends the lease (idempotent). Call when the response is finished or the exchange failed. */
  release(): void;
}

export interface AppStatus {
  state: AppState;
  inFlight: number;
  waiting: number;
  openConnections: number;
  softConcurrency: number;
  hardConcurrency: number;
  /** In-flight requests exceed the soft limit: a hint for scaling decisions made elsewhere. */
  overSoftLimit: boolean;
  target: BackendTarget | undefined;
}

interface Deps {
  logger: Logger;
  metrics: AppMetrics;
}

/** Rejects with the signal's reason as soon as it aborts; otherwise settles like `p`. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** A signal that aborts with `reason` after `ms`, or when `parent` aborts. */
function deadline(parent: AbortSignal, ms: number, reason: Error): { signal: AbortSignal; clear(): void } {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(reason), ms);
  const onParent = (): void => ac.abort(parent.reason);
  parent.addEventListener("abort", onParent, { once: true });
  if (parent.aborted) ac.abort(parent.reason);
  return {
    signal: ac.signal,
    clear: () => {
      clearTimeout(timer);
      parent.removeEventListener("abort", onParent);
    },
  };
}

export class AppRuntime {
  private state: State = { kind: "stopped" };
  private inFlight = 0;
  private waiting = 0;
  private connections = 0;
  private readonly slotQueue: Array<() => void> = [];
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private route: AppRoute,
    private limits: AppLimits,
    private readonly deps: Deps,
  ) {}

  get name(): string {
    return this.route.name;
  }

  /** A deploy changed the route or its limits: later wakes, waits and idles use the new values. */
  update(route: AppRoute, limits: AppLimits): void {
    this.route = route;
    this.limits = limits;
    this.grantSlots();
    this.scheduleIdle();
  }

  status(): AppStatus {
    return {
      state: this.state.kind,
      inFlight: this.inFlight,
      waiting: this.waiting,
      openConnections: this.connections,
      softConcurrency: this.limits.softConcurrency,
      hardConcurrency: this.limits.hardConcurrency,
      overSoftLimit: this.inFlight > this.limits.softConcurrency,
      target: this.state.kind === "ready" ? { ...this.state.ready.target } : undefined,
    };
  }

  /** The warm path, synchronous: a lease when the backend is ready and a slot is free with nobody queued. */
  tryAcquire(): Lease | undefined {
    const st = this.state;
    if (st.kind !== "ready" || this.inFlight >= this.limits.hardConcurrency || this.slotQueue.length > 0) return undefined;
    this.inFlight++;
    return this.lease(st.ready, undefined);
  }

  /**
   * Waits until the backend is ready and a concurrency slot is free, waking the backend if needed.
   * Rejects with a Refusal (queue_full, queue_timeout, wake_failed, wake_timeout) or with
   * `signal`'s reason when the caller gives up (client gone, starting page shown).
   */
  async acquire(signal: AbortSignal): Promise<Lease> {
    const now = this.tryAcquire();
    if (now !== undefined) return now;
    if (this.waiting >= this.limits.queueLimit) throw new Refusal("queue_full");
    this.waiting++;
    this.cancelIdle();
    try {
      let joined: WakeInfo | undefined;
      for (;;) {
        const cur = this.state;
        if (cur.kind === "stopped") {
          this.startWake();
        } else if (cur.kind === "waking") {
          joined = (await untilAborted(cur.promise, signal)).info;
        } else if (cur.kind === "idling") {
          // Bounded even if an idle action hangs: the request never waits longer than a wake may take.
          const d = deadline(signal, this.limits.wakeBudgetMs, new Refusal("wake_timeout"));
          try {
            await untilAborted(cur.promise, d.signal);
          } finally {
            d.clear();
          }
        } else {
          await this.takeSlot(signal);
          if (this.state === cur) return this.lease(cur.ready, joined);
          this.giveBackSlot(); // the backend was retired while this request queued: go round again
        }
      }
    } finally {
      this.waiting--;
      this.scheduleIdle();
    }
  }

  /** Counts a long-lived proxied connection (an upgraded socket) as activity until the returned function is called. */
  openConnection(): () => void {
    this.connections++;
    this.cancelIdle();
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      this.connections--;
      this.scheduleIdle();
    };
  }

  /** Stops timers and closes pools. Does not idle the backend: walkd's shutdown decides that. */
  close(): void {
    this.closed = true;
    this.cancelIdle();
    if (this.state.kind === "ready") this.retire(this.state.ready);
  }

  private lease(ready: Ready, wake: WakeInfo | undefined): Lease {
    this.cancelIdle();
    ready.leases++;
    let open = true;
    return {
      target: ready.target,
      pool: ready.pool,
      wake,
      unreachable: () => {
        if (this.state.kind === "ready" && this.state.ready === ready) {
          this.deps.logger.warn({ app: this.name, target: ready.target }, "activator: backend unreachable; the next request wakes it again");
          this.state = { kind: "stopped" };
          this.retire(ready);
        }
      },
      release: () => {
        if (!open) return;
        open = false;
        ready.leases--;
        if (ready.retired && ready.leases === 0) ready.pool.destroy();
        this.giveBackSlot();
        this.scheduleIdle();
      },
    };
  }

  private takeSlot(signal: AbortSignal): Promise<void> {
    if (this.inFlight < this.limits.hardConcurrency && this.slotQueue.length === 0) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const d = deadline(signal, this.limits.queueTimeoutMs, new Refusal("queue_timeout"));
      const grant = (): void => {
        d.clear();
        resolve();
      };
      d.signal.addEventListener(
        "abort",
        () => {
          const i = this.slotQueue.indexOf(grant);
          if (i < 0) return; // already granted
          this.slotQueue.splice(i, 1);
          d.clear();
          reject(d.signal.reason as Error);
        },
        { once: true },
      );
      this.slotQueue.push(grant);
    });
  }

  private giveBackSlot(): void {
    this.inFlight--;
    this.grantSlots();
  }

  /** Hands free slots to queued requests in arrival order (a slot moves with inFlight counted once). */
  private grantSlots(): void {
    while (this.slotQueue.length > 0 && this.inFlight < this.limits.hardConcurrency) {
      this.inFlight++;
      this.slotQueue.shift()!();
    }
  }

  private startWake(): void {
    const { backend, healthCheck } = this.route;
    const started = performance.now();
    const ac = new AbortController();
    const budget = setTimeout(() => ac.abort(new Refusal("wake_timeout")), this.limits.wakeBudgetMs);
    const call = backend.wake(ac.signal);
    const promise = (async (): Promise<Ready> => {
      let result: WakeResult;
      try {
        result = await untilAborted(call, ac.signal);
        await waitReady(result, healthCheck, ac.signal, result.ended);
      } catch (err) {
        if (ac.signal.aborted) throw new Refusal("wake_timeout");
        await this.logFailure(err);
        throw new Refusal("wake_failed");
      } finally {
        clearTimeout(budget);
      }
      const ready: Ready = {
        target: { host: result.host, port: result.port },
        pool: new UpstreamPool({ host: result.host, port: result.port }),
        info: { kind: result.kind, durMs: performance.now() - started },
        readyAt: performance.now(),
        leases: 0,
        retired: false,
      };
      void result.ended?.then(
        () => this.ended(ready),
        () => this.ended(ready),
      );
      return ready;
    })();
    this.state = { kind: "waking", promise };
    promise.then(
      (ready) => {
        this.deps.metrics.woke(ready.info.kind, ready.info.durMs);
        if (this.closed) return this.retire(ready);
        this.state = { kind: "ready", ready };
        this.grantSlots();
        this.scheduleIdle();
      },
      (err: unknown) => {
        if (err instanceof Refusal && err.refusal === "wake_timeout") {
          this.deps.metrics.wakeTimeouts++;
          this.deps.logger.warn({ app: this.name, budgetMs: this.limits.wakeBudgetMs }, "activator: backend not ready within the wake budget; idling it");
          this.runIdle(call.then(() => true, () => false));
        } else {
          this.deps.metrics.wakeFailures++;
          this.state = { kind: "stopped" };
        }
      },
    );
  }

  private async logFailure(err: unknown): Promise<void> {
    let lines: string[] = [];
    try {
      lines = (await this.route.backend.lastLogs?.()) ?? [];
    } catch (logErr) {
      this.deps.logger.warn({ app: this.name, err: logErr }, "activator: could not read the backend's last log lines");
    }
    const message = err instanceof Error ? err.message : String(err);
    this.deps.logger.error({ app: this.name, err: message, lastLogs: lines }, "activator: backend failed to start");
  }

  private ended(ready: Ready): void {
    if (this.state.kind !== "ready" || this.state.ready !== ready) return;
    this.deps.logger.info({ app: this.name }, "activator: backend ended on its own; the next request wakes it");
    this.cancelIdle();
    this.state = { kind: "stopped" };
    this.retire(ready);
  }

  private retire(ready: Ready): void {
    ready.retired = true;
    if (ready.leases === 0) ready.pool.destroy();
  }

  private cancelIdle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  /** Arms the idle clock when nothing is active; it starts no earlier than the cooldown after readiness. */
  private scheduleIdle(): void {
    this.cancelIdle();
    const st = this.state;
    const idleMs = this.limits.idleTimeoutMs;
    if (this.closed || st.kind !== "ready" || idleMs === null || this.inFlight > 0 || this.waiting > 0 || this.connections > 0) return;
    const now = performance.now();
    const from = Math.max(now, st.ready.readyAt + this.limits.cooldownMs);
    this.idleTimer = setTimeout(() => {
      if (this.state === st) {
        this.deps.metrics.idles++;
        this.retire(st.ready);
        this.runIdle(Promise.resolve(true));
      }
    }, from + idleMs - now);
    this.idleTimer.unref();
  }

  /** Runs the backend's idle action once `woke` says a wake succeeded; requests meanwhile wait, then wake again. */
  private runIdle(woke: Promise<boolean>): void {
    const promise = (async (): Promise<void> => {
      if (!(await woke)) return;
      try {
        await this.route.backend.idle();
      } catch (err) {
        this.deps.logger.error({ app: this.name, err: err instanceof Error ? err.message : String(err) }, "activator: the backend's idle action failed; the next request wakes it");
      }
    })();
    this.state = { kind: "idling", promise };
    void promise.then(() => {
      if (this.state.kind === "idling" && this.state.promise === promise) this.state = { kind: "stopped" };
    });
  }
}

/** Limits merged over defaults, checked: a bad limit is an error naming the app and the knob. */
export function resolveLimits(route: AppRoute, defaults: AppLimits): AppLimits {
  const l: AppLimits = { ...defaults, ...route.limits };
  const positive: Array<keyof AppLimits> = ["wakeBudgetMs", "queueTimeoutMs", "hardConcurrency", "softConcurrency"];
  for (const k of positive) {
    const v = l[k];
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw new WalkError("invalid_argument", `app ${route.name}: limit ${k} must be a positive number, got ${String(v)}`, { details: { app: route.name, limit: k } });
  }
  for (const k of ["queueLimit", "cooldownMs"] as const) {
    if (!Number.isFinite(l[k]) || l[k] < 0) throw new WalkError("invalid_argument", `app ${route.name}: limit ${k} must be 0 or more, got ${String(l[k])}`, { details: { app: route.name, limit: k } });
  }
  if (l.idleTimeoutMs !== null && (!Number.isFinite(l.idleTimeoutMs) || l.idleTimeoutMs <= 0)) {
    throw new WalkError("invalid_argument", `app ${route.name}: limit idleTimeoutMs must be positive or null (never idle), got ${String(l.idleTimeoutMs)}`, { details: { app: route.name, limit: "idleTimeoutMs" } });
  }
  if (!Number.isInteger(l.hardConcurrency)) throw new WalkError("invalid_argument", `app ${route.name}: limit hardConcurrency must be an integer, got ${l.hardConcurrency}`, { details: { app: route.name, limit: "hardConcurrency" } });
  const hc = route.healthCheck;
  if (hc !== undefined && hc.type === "http" && !hc.path.startsWith("/")) {
    throw new WalkError("invalid_argument", `app ${route.name}: health check path ${JSON.stringify(hc.path)} must start with '/'`, { details: { app: route.name } });
  }
  return l;
}
