// The activator's vocabulary: what an app route is, what a backend must do, and the limits that
// bound every wait. This file holds types and defaults only; behaviour lives in the other modules.

/** Where a ready backend accepts connections (the guest's routed address and its internal port). */
export interface BackendTarget {
  host: string;
  port: number;
}

export type WakeKind = "boot" | "resume";

export interface WakeResult extends BackendTarget {
  /** How the backend came up: a cold boot or a restore from a snapshot. Shown in timing headers. */
  kind: WakeKind;
  /**
   * Optional: settles when the backend ends on its own (the workload or the VM exited). During
   * the readiness wait it turns the wake into a failure (502, no more probing); once ready it
   * marks the backend stopped so the next request wakes it again.
   */
  ended?: Promise<unknown>;
}

/**
 * The thing that wakes and idles one instance of an app (for walkd: one machine slot). The
 * activator guarantees that at most one of wake()/idle() runs at a time per backend, and that
 * idle() is only called after a wake() resolved.
 */
export interface AppBackend {
  /**
   * Start or resume the backend and resolve with its address as soon as the VM runs; the
   * activator itself waits for the port to accept and the health check to pass. Must be
   * idempotent: on a backend that is already running it resolves with its address. `signal`
   * aborts when the wake budget is spent; the activator then calls idle() to clean up.
   * Rejecting means the backend failed to start (clients get 502).
   */
  wake(signal: AbortSignal): Promise<WakeResult>;
  /** Stop or suspend the backend (the backend decides which). Called when the app is idle. */
  idle(): Promise<void>;
  /** Optional: the backend's last log lines, written to walkd's log when it fails to start. */
  lastLogs?(): Promise<string[]>;
}

export type HealthCheck =
  | { type: "tcp" }
  | { type: "http"; path: string; /** Per-probe timeout. */ timeoutMs?: number };

export interface AppLimits {
  /** Time from the start of a wake until the backend must be ready; then 503 + Retry-After. */
  wakeBudgetMs: number;
  /** Requests waiting (for a wake or a concurrency slot) beyond this get 503 at once. */
  queueLimit: number;
  /** How long a request may wait for a concurrency slot on a ready backend; then 503. */
  queueTimeoutMs: number;
  /** Requests in flight to one instance at most; more wait in the queue. */
  hardConcurrency: number;
  /**
   * Requests in flight to one instance before the next instance is woken: a request goes to the
   * least-loaded ready instance below this, and only when there is none does another one start.
   */
  softConcurrency: number;
  /** Idle time of an instance (no request in flight, no open connection) before its idle(); null: never idle. */
  idleTimeoutMs: number | null;
  /** After an instance became ready, idle time only starts counting once this has passed. */
  cooldownMs: number;
  /** Instances kept ready (woken without a request, never idled below this); at most the number of backends. */
  minRunning: number;
}

export const DEFAULT_APP_LIMITS: AppLimits = {
  wakeBudgetMs: 30_000,
  queueLimit: 256,
  queueTimeoutMs: 30_000,
  hardConcurrency: 64,
  softConcurrency: 32,
  idleTimeoutMs: 300_000,
  cooldownMs: 10_000,
  minRunning: 0,
};

export interface AppRoute {
  /** The app's name; it answers on `<name>.localhost`. A DNS label: [a-z0-9-], 1..63. */
  name: string;
  /** More hostnames the app answers to (case-insensitive, exact match). */
  hostnames?: string[];
  /** Host ports: the activator opens a listener on each, routing every request to this app. */
  hostPorts?: number[];
  /** One backend per instance, in preference order: load goes to the lowest index that has room. */
  backends: AppBackend[];
  healthCheck?: HealthCheck;
  limits?: Partial<AppLimits>;
}

export interface StartingPageOptions {
  /** A browser request still held after this long gets the page (503, auto-refresh). */
  afterMs: number;
  /** The page's refresh interval and its Retry-After. */
  refreshSeconds: number;
}

export interface UpstreamTimeouts {
  /** From the request being sent until the upstream's response headers; then 504. */
  headersTimeoutMs: number;
  /** No bytes either way on the upstream socket for this long ends the exchange (504 if nothing was sent). */
  idleTimeoutMs: number;
}

export const DEFAULT_UPSTREAM_TIMEOUTS: UpstreamTimeouts = { headersTimeoutMs: 60_000, idleTimeoutMs: 120_000 };
