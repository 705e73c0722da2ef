// The Firecracker API requests walk sends, as typed builders: method, path and body, named after
// the operation in firecracker.yaml (v1.17). Only the fields walk sets are typed. Builders do no
// I/O; api-client.ts sends them. Every body here is checked against the published spec in tests.

export interface ApiRequest {
  method: "GET" | "PUT" | "PATCH";
  path: string;
  body?: Record<string, unknown>;
}

export interface LoggerBody {
  log_path: string;
  level: "Error" | "Warning" | "Info" | "Debug" | "Trace" | "Off";
  show_level: boolean;
  show_log_origin: boolean;
}
export interface MetricsBody {
  metrics_path: string;
}
export interface MachineConfigBody {
  vcpu_count: number;
  mem_size_mib: number;
  smt: boolean;
  track_dirty_pages?: boolean;
}
export interface BootSourceBody {
  kernel_image_path: string;
  boot_args: string;
}
export interface DriveBody {
  drive_id: string;
  path_on_host: string;
  is_root_device: boolean;
  is_read_only: boolean;
}
export interface NetworkInterfaceBody {
  iface_id: string;
  host_dev_name: string;
  guest_mac: string;
}
export interface VsockBody {
  guest_cid: number;
  uds_path: string;
}
export interface TokenBucketBody {
  size: number;
  refill_time: number;
  one_time_burst?: number;
}
export interface EntropyBody {
  rate_limiter?: { bandwidth?: TokenBucketBody; ops?: TokenBucketBody };
}
export type ActionType = "InstanceStart" | "SendCtrlAltDel" | "FlushMetrics";
export interface SnapshotCreateBody {
  snapshot_type: "Full" | "Diff";
  snapshot_path: string;
  mem_file_path: string;
}
export interface SnapshotLoadBody {
  snapshot_path: string;
  mem_backend: { backend_type: "File"; backend_path: string };
  resume_vm: boolean;
  vsock_override?: { uds_path: string };
  /** x86_64: advance kvm-clock by the wall-clock time since the snapshot (host Linux >= 5.16). */
  clock_realtime?: boolean;
}

/** GET / (describeInstance). */
export interface InstanceInfo {
  app_name: string;
  id: string;
  state: "Not started" | "Running" | "Paused";
  vmm_version: string;
}

/** The guest's vsock context id. 0-2 are reserved; each VM has its own device, so all can use 3. */
export const GUEST_CID = 3;

// Ids in paths are restricted by the spec checks in spec.ts (letters, digits, '_'), so they need
// no escaping; encodeURIComponent keeps a builder safe even if called with something else.
const seg = (id: string): string => encodeURIComponent(id);

export const describeInstance = (): ApiRequest => ({ method: "GET", path: "/" });
export const getMachineConfig = (): ApiRequest => ({ method: "GET", path: "/machine-config" });
export const putLogger = (b: LoggerBody): ApiRequest => ({ method: "PUT", path: "/logger", body: { ...b } });
export const putMetrics = (b: MetricsBody): ApiRequest => ({ method: "PUT", path: "/metrics", body: { ...b } });
export const putMachineConfig = (b: MachineConfigBody): ApiRequest => ({ method: "PUT", path: "/machine-config", body: { ...b } });
export const putBootSource = (b: BootSourceBody): ApiRequest => ({ method: "PUT", path: "/boot-source", body: { ...b } });
export const putDrive = (b: DriveBody): ApiRequest => ({ method: "PUT", path: `/drives/${seg(b.drive_id)}`, body: { ...b } });
export const putNetworkInterface = (b: NetworkInterfaceBody): ApiRequest => ({
  method: "PUT",
  path: `/network-interfaces/${seg(b.iface_id)}`,
  body: { ...b },
});
export const putVsock = (b: VsockBody): ApiRequest => ({ method: "PUT", path: "/vsock", body: { ...b } });
export const putEntropy = (b: EntropyBody): ApiRequest => ({ method: "PUT", path: "/entropy", body: { ...b } });
export const action = (action_type: ActionType): ApiRequest => ({ method: "PUT", path: "/actions", body: { action_type } });
export const patchVm = (state: "Paused" | "Resumed"): ApiRequest => ({ method: "PATCH", path: "/vm", body: { state } });
export const createSnapshot = (b: SnapshotCreateBody): ApiRequest => ({ method: "PUT", path: "/snapshot/create", body: { ...b } });
export const loadSnapshot = (b: SnapshotLoadBody): ApiRequest => ({ method: "PUT", path: "/snapshot/load", body: { ...b } });
