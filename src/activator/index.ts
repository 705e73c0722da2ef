// Public surface of src/activator: walkd's request-driven HTTP entry point for apps. The app
// layer builds AppRoutes (one AppBackend per instance of an app) and hands them to Activator.setRoutes.
export { Activator, type ActivatorOptions } from "./activator.js";
export type { AppStatus, AppState, InstanceStatus } from "./app-runtime.js";
export type { ActivatorMetricsSnapshot, AppMetricsSnapshot, HistogramSnapshot, InstanceMetricsSnapshot, RefusalCause } from "./metrics.js";
export { HISTOGRAM_BOUNDS_MS } from "./metrics.js";
export { DEFAULT_APP_LIMITS, DEFAULT_UPSTREAM_TIMEOUTS, type AppBackend, type AppLimits, type AppRoute, type BackendTarget, type HealthCheck, type StartingPageOptions, type UpstreamTimeouts, type WakeKind, type WakeResult } from "./types.js";
export { canonicalHostname, hostFromHeader, isDnsLabel } from "./hostname.js";
export { isReady } from "./readiness.js";
