// One instance of an app (one backend): stopped -> waking -> ready -> idling -> stopped. Owns its
// single-flight wake and wake budget, the keep-alive pool to its current target, its in-flight and
// open-connection counts, its idle clock, and the draining of targets it retired. Knows nothing of
// queued requests or of the other instances: the app runtime (app-runtime.ts) places requests,
// decides when an instance wakes without a request, and whether it may idle (minRunning).
import type { Logger } from "../lib/index.js";
import type { AppMetrics, RefusalCause } from "./metrics.js";
import type { InstanceState } from "./placement.js";
import { waitReady } from "./readiness.js";
import { UpstreamPool } from "./upstream-pool.js";
import type { AppBackend, AppLimits, BackendTarget, HealthCheck, WakeKind, WakeResult } from "./types.js";

/** After a failed wake or an end, automatic wakes (scale-out, minRunning) of the instance wait this long, doubling per failure. */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 60_000;

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

export interface Lease {
  readonly target: BackendTarget;
  readonly pool: UpstreamPool;
  /** Set when this request waited for the wake of the instance it got. */
  readonly wake: WakeInfo | undefined;
  /** The backend could not be reached: retire it so the next request wakes it again. */
  unreachable(): void;
  /** Counts a long-lived connection made with this lease (an upgraded socket) as activity until the returned function is called. */
  openConnection(): () => void;
  /** Ends the lease (idempotent). Call when the response is finished or the exchange failed. */
  release(): void;
}

/** A woken target and what lives as long as it: its pool, its leases and connections. */
interface Ready {
  readonly target: BackendTarget;
  readonly pool: UpstreamPool;
  readonly info: WakeInfo;
  readonly readyAt: number;
  leases: number;
  connections: number;
  /** No new leases; the pool closes when the last one ends. */
  retired: boolean;
}

/** What an instance needs from its app runtime. */
export interface InstanceHost {
  readonly app: string;
  readonly logger: Logger;
  readonly metrics: AppMetrics;
  limits(): AppLimits;
  healthCheck(): HealthCheck | undefined;
  /** The instance woke, stopped, went idle or failed to wake (then `refusal` says how). */
  changed(instance: Instance, refusal?: Refusal): void;
  /** A request or connection of the instance ended. */
  freed(instance: Instance): void;
  /** The idle clock ran out: may the instance idle now? */
  mayIdle(instance: Instance): boolean;
}

export interface InstanceStatus {
  state: InstanceState;
  inFlight: number;
  openConnections: number;
  /** Requests and connections still open on targets this instance retired (a rollout, an end). */
  draining: number;
  /** In-flight requests exceed the soft limit. */
  overSoftLimit: boolean;
  target: BackendTarget | undefined;
}

type State = { kind: "stopped" } | { kind: "waking"; promise: Promise<Ready> } | { kind: "ready"; ready: Ready } | { kind: "idling"; promise: Promise<void> };

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

export class Instance {
  private state: State = { kind: "stopped" };
  private readonly draining = new Set<Ready>();
  private idleTimer: NodeJS.Timeout | undefined;
  private idleSince = 0;
  private failures = 0;
  /** Automatic wakes wait until then (performance.now()) after a failure. */
  retryAt = 0;
  private rewakePending = false;
  /** Left the route, or the app was removed: never woken or idled again. */
  private detached = false;

  constructor(
    readonly index: number,
    public backend: AppBackend,
    private readonly host: InstanceHost,
  ) {}

  get kind(): InstanceState {
    return this.state.kind;
  }

  /** Ready or waking: counts toward minRunning. */
  get up(): boolean {
    return this.state.kind === "ready" || this.state.kind === "waking";
  }

  get inFlight(): number {
    return this.state.kind === "ready" ? this.state.ready.leases : 0;
  }

  /** No retired target has a request or connection left, and no re-wake is pending. */
  get drained(): boolean {
    return this.draining.size === 0 && !this.rewakePending;
  }

  status(): InstanceStatus {
    const ready = this.state.kind === "ready" ? this.state.ready : undefined;
    return {
      state: this.state.kind,
      inFlight: ready?.leases ?? 0,
      openConnections: ready?.connections ?? 0,
      draining: [...this.draining].reduce((n, r) => n + r.leases + r.connections, 0),
      overSoftLimit: (ready?.leases ?? 0) > this.host.limits().softConcurrency,
      target: ready ? { ...ready.target } : undefined,
    };
  }

  /** Starts the single-flight wake of a stopped instance; in any other state, a no-op. */
  wake(): void {
    if (this.state.kind !== "stopped" || this.detached) return;
    const backend = this.backend;
    const limits = this.host.limits();
    const started = performance.now();
    const ac = new AbortController();
    const budget = setTimeout(() => ac.abort(new Refusal("wake_timeout")), limits.wakeBudgetMs);
    const call = backend.wake(ac.signal);
    const promise = (async (): Promise<Ready> => {
      let result: WakeResult;
      try {
        result = await untilAborted(call, ac.signal);
        await waitReady(result, this.host.healthCheck(), ac.signal, result.ended);
      } catch (err) {
        if (ac.signal.aborted) throw new Refusal("wake_timeout");
        await this.logFailure(backend, err);
        throw new Refusal("wake_failed");
      } finally {
        clearTimeout(budget);
      }
      const ready: Ready = {
        target: { host: result.host, port: result.port },
        // At most hardConcurrency of its connections are ever in use: no more requests run at once.
        pool: new UpstreamPool({ host: result.host, port: result.port }),
        info: { kind: result.kind, durMs: performance.now() - started },
        readyAt: performance.now(),
        leases: 0,
        connections: 0,
        retired: false,
      };
      void result.ended?.then(
        () => this.lost(ready, "ended"),
        () => this.lost(ready, "ended"),
      );
      return ready;
    })();
    this.state = { kind: "waking", promise };
    promise.then(
      (ready) => this.woke(ready),
      (err: unknown) => this.wakeFailed(err as Refusal, call),
    );
  }

  /** A lease on the ready target. `since`: when the request began to wait (a wake that ended after it shows in its timing). */
  lease(since: number | undefined): Lease {
    if (this.state.kind !== "ready") throw new Error(`activator: lease on instance ${this.index} of app ${this.host.app}, which is ${this.state.kind}`);
    const ready = this.state.ready;
    ready.leases++;
    this.host.metrics.instance(this.index).requests++;
    this.cancelIdle();
    let open = true;
    return {
      target: ready.target,
      pool: ready.pool,
      wake: since !== undefined && ready.readyAt >= since ? ready.info : undefined,
      unreachable: () => this.lost(ready, "unreachable"),
      openConnection: () => this.openConnection(ready),
      release: () => {
        if (!open) return;
        open = false;
        ready.leases--;
        this.activityEnded(ready);
      },
    };
  }

  /**
   * The backend answers elsewhere now (a rollout replaced what it runs on): the current target
   * takes no new requests and drains, and the instance wakes again at once. A wake in progress is
   * not trusted either: when it ends, the instance wakes once more.
   */
  rewake(): void {
    if (this.detached) return;
    const st = this.state;
    if (st.kind === "waking") {
      this.rewakePending = true;
      return;
    }
    if (st.kind === "ready") {
      this.cancelIdle();
      this.state = { kind: "stopped" };
      this.retire(st.ready);
    }
    // An idling instance is going to sleep: the next request (or minRunning) wakes it.
    this.wake();
  }

  /** The instance left the route or its app was removed: its target drains, and it is never woken or idled again. */
  detach(): void {
    this.detached = true;
    this.cancelIdle();
    const st = this.state;
    if (st.kind === "ready") {
      this.state = { kind: "stopped" };
      this.retire(st.ready);
    }
  }

  /** Arms the idle clock when nothing is active; it starts no earlier than the cooldown after readiness. */
  scheduleIdle(): void {
    this.cancelIdle();
    const st = this.state;
    const { idleTimeoutMs, cooldownMs } = this.host.limits();
    if (this.detached || st.kind !== "ready" || idleTimeoutMs === null || st.ready.leases + st.ready.connections > 0) return;
    const at = Math.max(this.idleSince, st.ready.readyAt + cooldownMs) + idleTimeoutMs;
    this.idleTimer = setTimeout(() => this.idleNow(st), Math.max(0, at - performance.now()));
    this.idleTimer.unref();
  }

  private idleNow(st: State & { kind: "ready" }): void {
    if (this.state !== st || !this.host.mayIdle(this)) return; // re-armed when the runtime's state changes
    this.host.metrics.instance(this.index).idles++;
    this.retire(st.ready);
    this.runIdle(Promise.resolve(true));
    this.host.changed(this);
  }

  private woke(ready: Ready): void {
    this.host.metrics.woke(this.index, ready.info.kind, ready.info.durMs);
    this.failures = 0;
    this.retryAt = 0;
    if (this.detached || this.rewakePending) {
      this.state = { kind: "stopped" };
      this.retire(ready);
      this.rewakeIfPending();
    } else {
      this.state = { kind: "ready", ready };
      this.idleSince = ready.readyAt;
      this.scheduleIdle();
    }
    this.host.changed(this);
  }

  private wakeFailed(refusal: Refusal, call: Promise<WakeResult>): void {
    this.backOff();
    const m = this.host.metrics.instance(this.index);
    if (refusal.refusal === "wake_timeout") {
      m.wakeTimeouts++;
      this.host.logger.warn({ app: this.host.app, instance: this.index, budgetMs: this.host.limits().wakeBudgetMs }, "activator: backend not ready within the wake budget; idling it");
      // A backend that started but never became ready is put back to sleep, unless it left the route (its owner removes it).
      if (this.detached) this.state = { kind: "stopped" };
      else this.runIdle(call.then(() => true, () => false));
    } else {
      m.wakeFailures++;
      this.state = { kind: "stopped" };
    }
    this.rewakeIfPending();
    this.host.changed(this, refusal);
  }

  private rewakeIfPending(): void {
    if (!this.rewakePending) return;
    this.rewakePending = false;
    this.wake();
  }

  private async logFailure(backend: AppBackend, err: unknown): Promise<void> {
    let lines: string[] = [];
    try {
      lines = (await backend.lastLogs?.()) ?? [];
    } catch (logErr) {
      this.host.logger.warn({ app: this.host.app, instance: this.index, err: logErr }, "activator: could not read the backend's last log lines");
    }
    const message = err instanceof Error ? err.message : String(err);
    this.host.logger.error({ app: this.host.app, instance: this.index, err: message, lastLogs: lines }, "activator: backend failed to start");
  }

  /** The ready target ended on its own or could not be reached: the instance is stopped; the next request wakes it. */
  private lost(ready: Ready, why: "ended" | "unreachable"): void {
    if (this.state.kind !== "ready" || this.state.ready !== ready) return;
    const log = { app: this.host.app, instance: this.index, target: ready.target };
    if (why === "ended") this.host.logger.info(log, "activator: backend ended on its own; the next request wakes it");
    else this.host.logger.warn(log, "activator: backend unreachable; the next request wakes it again");
    this.cancelIdle();
    this.state = { kind: "stopped" };
    this.retire(ready);
    this.backOff();
    this.host.changed(this);
  }

  private backOff(): void {
    this.failures++;
    this.retryAt = performance.now() + Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.min(16, this.failures - 1));
  }

  private openConnection(ready: Ready): () => void {
    ready.connections++;
    this.cancelIdle();
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      ready.connections--;
      this.activityEnded(ready);
    };
  }

  private activityEnded(ready: Ready): void {
    this.settle(ready);
    if (this.state.kind === "ready" && this.state.ready === ready && ready.leases + ready.connections === 0) {
      this.idleSince = performance.now();
      this.scheduleIdle();
    }
    this.host.freed(this);
  }

  private retire(ready: Ready): void {
    ready.retired = true;
    this.settle(ready);
  }

  /** A retired target's pool closes with its last request; it has drained once its connections end too. */
  private settle(ready: Ready): void {
    if (!ready.retired) return;
    if (ready.leases === 0) ready.pool.destroy();
    if (ready.leases + ready.connections > 0) this.draining.add(ready);
    else this.draining.delete(ready);
  }

  private cancelIdle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  /** Runs the backend's idle action once `woke` says a wake succeeded; then the instance is stopped. */
  private runIdle(woke: Promise<boolean>): void {
    const backend = this.backend;
    const promise = (async (): Promise<void> => {
      if (!(await woke)) return;
      try {
        await backend.idle();
      } catch (err) {
        this.host.logger.error({ app: this.host.app, instance: this.index, err: err instanceof Error ? err.message : String(err) }, "activator: the backend's idle action failed; the next request wakes it");
      }
    })();
    this.state = { kind: "idling", promise };
    void promise.then(() => {
      if (this.state.kind !== "idling" || this.state.promise !== promise) return;
      this.state = { kind: "stopped" };
      this.host.changed(this);
    });
  }
}
