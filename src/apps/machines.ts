// What the app layer needs from the machine orchestrator, as a narrow port: MachineService
// satisfies it structurally, and tests can stand in for it. Types only.

export interface AppMachineView {
  id: string;
  name: string;
  state: "created" | "starting" | "started" | "stopping" | "stopped" | "failed" | "destroyed";
  /** The guest's routed address (null: the machine has no network). */
  net: { ip: string } | null;
  last_error: string | null;
}

export interface AppMachineRequest {
  image: string;
  name: string;
  env: string[];
  cpus: number;
  memory_mib: number;
  network: "default";
  start: boolean;
}

export interface AppMachines {
  create(req: AppMachineRequest): Promise<AppMachineView>;
  /** With restore: resume from the snapshot suspend() took (rejects when there is none or it fails). */
  start(ref: string, opts?: { restore?: boolean }): Promise<AppMachineView>;
  /** Snapshot (memory and device state), then stop; rejects when the snapshot failed (the machine is stopped). */
  suspend(ref: string): Promise<AppMachineView>;
  stop(ref: string, opts?: { timeoutMs?: number }): Promise<AppMachineView>;
  remove(ref: string, opts?: { force?: boolean }): Promise<AppMachineView>;
  inspect(ref: string): AppMachineView;
  /** Resolves once the machine is not running ("exited"). */
  wait(ref: string, state: "exited", timeoutMs: number, signal?: AbortSignal): Promise<unknown>;
  logs(ref: string, opts?: { follow?: boolean; signal?: AbortSignal }): AsyncGenerator<Buffer>;
}
