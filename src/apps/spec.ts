// The app model: what a walk.toml declares once parsed and checked. Types and the defaults that
// fill what a file leaves out; parsing lives in config.ts, behaviour elsewhere.

export type Autostop = "stop" | "suspend" | false;

export type AppHealthCheck = { type: "tcp" } | { type: "http"; path: string };

export interface ServiceSpec {
  /** The port the workload listens on inside the guest. */
  internalPort: number;
  /** Extra hostnames routed to this service (the first service also answers on `<app>.localhost`). */
  hostnames: string[];
  /** A host port the activator listens on for this service, or null. */
  hostPort: number | null;
  /** A request may start (or resume) a stopped machine. */
  autostart: boolean;
  /** What happens to an idle machine; false keeps it running. */
  autostop: Autostop;
  /** Seconds without a request or an open connection before autostop applies. */
  idleTimeoutS: number;
  /** Seconds a wake may take (boot or resume, then readiness) before clients get 503. */
  wakeTimeoutS: number;
  /** Machines kept running for this service regardless of traffic (0..the app's maxMachines). */
  minMachines: number;
  concurrency: { soft: number; hard: number };
  healthCheck: AppHealthCheck | null;
}

export interface AppSpec {
  /** A DNS label: the app answers on `<name>.localhost`. */
  name: string;
  image: string;
  /** KEY=VALUE entries applied after the image's Env, in key order. */
  env: string[];
  cpus: number;
  memoryMib: number;
  /** Machines the app may run at once (each serves every service); the activator scales between the services' minMachines and this. */
  maxMachines: number;
  services: ServiceSpec[];
}

export const SERVICE_DEFAULTS = {
  autostart: true,
  autostop: "stop" as Autostop,
  idleTimeoutS: 300,
  wakeTimeoutS: 30,
  minMachines: 0,
  concurrency: { soft: 20, hard: 25 },
} as const;

export const APP_DEFAULTS = { cpus: 1, memoryMib: 256 } as const;

/** Bound on max_machines (and so on min_machines): the machine slots of one app. */
export const MAX_MACHINES = 16;
