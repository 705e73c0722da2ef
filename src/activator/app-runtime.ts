// One app's load across its instances (one per backend, instance.ts). Owns the wait queue (arrival
// order, its limit and timeouts), request placement (placement.ts), scaling out when every ready
// instance is at its soft limit, keeping minRunning instances up (woken without a request, never
// idled below it), draining, and the app's status. Never touches client sockets: callers get a
// Lease (or a Refusal) and do the proxying.
import { WalkError, type Logger } from "../lib/index.js";
import { Instance, Refusal, type InstanceHost, type InstanceStatus, type Lease } from "./instance.js";
import type { AppMetrics } from "./metrics.js";
import { place, type InstanceState } from "./placement.js";
import type { AppLimits, AppRoute, HealthCheck } from "./types.js";

// Re-exported: the proxy and timing modules take these from here.
export { Refusal, type Lease, type WakeInfo, type InstanceStatus } from "./instance.js";

export type AppState = InstanceState;

export interface AppStatus {
  /** The most awake instance's state: ready, else waking, else idling, else stopped. */
  state: AppState;
  /** Totals over the instances. */
  inFlight: number;
  waiting: number;
  openConnections: number;
  softConcurrency: number;
  hardConcurrency: number;
  minRunning: number;
  /** Instances ready now. */
  running: number;
  /** Every ready instance is over its soft limit (and at least one is ready). */
  overSoftLimit: boolean;
  /** By index, in preference order. */
  instances: InstanceStatus[];
}

interface Deps {
  logger: Logger;
  metrics: AppMetrics;
}

/** A request waiting for a place on some instance. */
interface Waiter {
  /** When it began to wait (performance.now()). */
  since: number;
  grant(instance: Instance): void;
  refuse(reason: Error): void;
}

export class AppRuntime {
  private instances: Instance[] = [];
  /** Instances that left the route and still drain. */
  private readonly leaving = new Set<Instance>();
  private readonly queue: Waiter[] = [];
  private readonly drainWaits = new Set<() => void>();
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly host: InstanceHost;

  constructor(
    private route: AppRoute,
    private limits: AppLimits,
    deps: Deps,
  ) {
    this.host = {
      app: route.name,
      logger: deps.logger,
      metrics: deps.metrics,
      limits: () => this.limits,
      healthCheck: (): HealthCheck | undefined => this.route.healthCheck,
      changed: (_i, refusal) => this.changed(refusal),
      freed: () => this.freed(),
      mayIdle: () => this.instances.filter((i) => i.up).length - 1 >= this.limits.minRunning,
    };
    this.update(route, limits);
  }

  get name(): string {
    return this.route.name;
  }

  /**
   * A deploy changed the route or its limits: instances keep their state and take their new
   * backend for their next wake and idle; instances beyond the new backend list leave (their
   * targets drain, the activator never idles them: their owner does).
   */
  update(route: AppRoute, limits: AppLimits): void {
    this.route = route;
    this.limits = limits;
    route.backends.forEach((b, i) => {
      const cur = this.instances[i];
      if (cur === undefined) this.instances[i] = new Instance(i, b, this.host);
      else cur.backend = b;
    });
    for (const gone of this.instances.splice(route.backends.length)) {
      gone.detach();
      this.leaving.add(gone);
    }
    this.changed();
  }

  status(): AppStatus {
    const instances = this.instances.map((i) => i.status());
    const ready = instances.filter((s) => s.state === "ready");
    const sum = (f: (s: InstanceStatus) => number): number => instances.reduce((n, s) => n + f(s), 0);
    return {
      state: (["ready", "waking", "idling"] as const).find((k) => instances.some((s) => s.state === k)) ?? "stopped",
      inFlight: sum((s) => s.inFlight),
      waiting: this.queue.length,
      openConnections: sum((s) => s.openConnections),
      softConcurrency: this.limits.softConcurrency,
      hardConcurrency: this.limits.hardConcurrency,
      minRunning: this.limits.minRunning,
      running: ready.length,
      overSoftLimit: ready.length > 0 && ready.every((s) => s.overSoftLimit),
      instances,
    };
  }

  /** The warm path, synchronous: a lease when an instance has room and nobody is queued. */
  tryAcquire(): Lease | undefined {
    if (this.queue.length > 0) return undefined;
    return this.place()?.lease(undefined);
  }

  /**
   * Waits for a place on an instance, waking one if needed. Rejects with a Refusal (queue_full,
   * queue_timeout, wake_failed, wake_timeout, unknown_host once the app is removed) or with
   * `signal`'s reason when the caller gives up (client gone, starting page shown).
   */
  acquire(signal: AbortSignal): Promise<Lease> {
    const now = this.tryAcquire();
    if (now !== undefined) return Promise.resolve(now);
    if (this.closed) return Promise.reject(new Refusal("unknown_host"));
    if (this.queue.length >= this.limits.queueLimit) return Promise.reject(new Refusal("queue_full"));
    return new Promise<Lease>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        const i = this.queue.indexOf(w);
        if (i >= 0) this.queue.splice(i, 1);
      };
      const w: Waiter = {
        since: performance.now(),
        grant: (instance) => {
          done();
          resolve(instance.lease(w.since));
        },
        refuse: (reason) => {
          done();
          reject(reason);
        },
      };
      const onAbort = (): void => w.refuse(signal.reason as Error);
      // Waiting for a place on a ready instance is bounded by queueTimeoutMs; waiting with none
      // ready, by the wake (its budget), or by the budget itself behind an idle action.
      const arm = (): void => {
        timer = setTimeout(expire, this.anyIn("ready") ? this.limits.queueTimeoutMs : this.limits.wakeBudgetMs);
      };
      const expire = (): void => {
        if (this.anyIn("ready")) w.refuse(new Refusal("queue_timeout"));
        else if (this.anyIn("waking")) arm();
        else w.refuse(new Refusal("wake_timeout"));
      };
      if (signal.aborted) return reject(signal.reason as Error);
      signal.addEventListener("abort", onAbort, { once: true });
      arm();
      this.queue.push(w);
      this.changed(); // places it, or wakes an instance (now, or after a backoff) for it
    });
  }

  /** Instance `index`'s backend answers elsewhere now: its target drains and it wakes again at once. */
  rewake(index: number): void {
    const instance = this.instances[index];
    if (instance === undefined) throw new WalkError("invalid_argument", `app ${this.name} has no instance ${index}`, { details: { app: this.name, instance: index } });
    instance.rewake();
    this.changed();
  }

  /** Resolves true once no retired target has a request or connection left, or false after `timeoutMs`. */
  drained(timeoutMs: number): Promise<boolean> {
    if (this.isDrained()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const finish = (ok: boolean): void => {
        clearTimeout(timer);
        this.drainWaits.delete(check);
        resolve(ok);
      };
      const check = (): void => {
        if (this.isDrained()) finish(true);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.drainWaits.add(check);
    });
  }

  /** The app left the route table: its targets drain, nothing wakes or idles again, and queued requests are refused. */
  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    for (const i of this.instances) i.detach();
    for (const w of [...this.queue]) w.refuse(new Refusal("unknown_host"));
  }

  private anyIn(state: AppState): boolean {
    return this.instances.some((i) => i.kind === state);
  }

  private isDrained(): boolean {
    return this.instances.every((i) => i.drained) && [...this.leaving].every((i) => i.drained);
  }

  /** The instance that takes the next request now, if any; may start waking one (placement.ts). */
  private place(): Instance | undefined {
    if (this.closed) return undefined;
    const now = performance.now();
    const loads = this.instances.map((i) => ({ state: i.kind, inFlight: i.inFlight, canWake: i.retryAt <= now }));
    const p = place(loads, this.limits.softConcurrency, this.limits.hardConcurrency);
    if (p.wake !== undefined) this.instances[p.wake]!.wake();
    return p.use === undefined ? undefined : this.instances[p.use];
  }

  /** Hands places to queued requests in arrival order. */
  private pump(): void {
    while (this.queue.length > 0) {
      const instance = this.place();
      if (instance === undefined) return;
      this.queue[0]!.grant(instance);
    }
  }

  private freed(): void {
    this.pump();
    this.notifyDrain();
  }

  /** An instance changed state: place queued requests, keep minRunning, re-arm idle clocks (minRunning may allow one now). */
  private changed(refusal?: Refusal): void {
    for (const i of this.leaving) if (i.drained && !i.up) this.leaving.delete(i);
    // A failed wake fails the requests waiting for it, unless another instance can still serve them.
    if (refusal !== undefined && !this.instances.some((i) => i.up)) for (const w of [...this.queue]) w.refuse(refusal);
    this.pump();
    this.keep();
    for (const i of this.instances) i.scheduleIdle();
    this.notifyDrain();
  }

  /** Wakes stopped instances (lowest first, past their backoff) until minRunning are up; retries later when backing off. */
  private keep(): void {
    clearTimeout(this.retryTimer);
    if (this.closed) return;
    const now = performance.now();
    let missing = this.limits.minRunning - this.instances.filter((i) => i.up).length;
    let retryAt = Infinity;
    for (const i of this.instances) {
      if (i.kind !== "stopped") continue;
      if (i.retryAt > now) retryAt = Math.min(retryAt, i.retryAt);
      else if (missing > 0) {
        i.wake();
        missing--;
      }
    }
    // A backing-off instance may be needed later: to reach minRunning, or to scale out for queued requests.
    if ((missing > 0 || this.queue.length > 0) && retryAt < Infinity) {
      this.retryTimer = setTimeout(() => this.changed(), retryAt - now);
      this.retryTimer.unref();
    }
  }

  private notifyDrain(): void {
    for (const check of [...this.drainWaits]) check();
  }
}

/** Limits merged over defaults, checked: a bad limit is an error naming the app and the knob. */
export function resolveLimits(route: AppRoute, defaults: AppLimits): AppLimits {
  const l: AppLimits = { ...defaults, ...route.limits };
  const bad = (limit: string, message: string): WalkError => new WalkError("invalid_argument", `app ${route.name}: ${message}`, { details: { app: route.name, limit } });
  if (!Array.isArray(route.backends) || route.backends.length === 0) throw bad("backends", "backends must list at least one backend");
  const positive: Array<keyof AppLimits> = ["wakeBudgetMs", "queueTimeoutMs", "hardConcurrency", "softConcurrency"];
  for (const k of positive) {
    const v = l[k];
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw bad(k, `limit ${k} must be a positive number, got ${String(v)}`);
  }
  for (const k of ["queueLimit", "cooldownMs"] as const) {
    if (!Number.isFinite(l[k]) || l[k] < 0) throw bad(k, `limit ${k} must be 0 or more, got ${String(l[k])}`);
  }
  if (l.idleTimeoutMs !== null && (!Number.isFinite(l.idleTimeoutMs) || l.idleTimeoutMs <= 0)) {
    throw bad("idleTimeoutMs", `limit idleTimeoutMs must be positive or null (never idle), got ${String(l.idleTimeoutMs)}`);
  }
  if (!Number.isInteger(l.hardConcurrency)) throw bad("hardConcurrency", `limit hardConcurrency must be an integer, got ${l.hardConcurrency}`);
  if (!Number.isInteger(l.minRunning) || l.minRunning < 0 || l.minRunning > route.backends.length) {
    throw bad("minRunning", `limit minRunning must be an integer from 0 to the number of backends (${route.backends.length}), got ${String(l.minRunning)}`);
  }
  const hc = route.healthCheck;
  if (hc !== undefined && hc.type === "http" && !hc.path.startsWith("/")) {
    throw new WalkError("invalid_argument", `app ${route.name}: health check path ${JSON.stringify(hc.path)} must start with '/'`, { details: { app: route.name } });
  }
  return l;
}
