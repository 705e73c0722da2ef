// Public surface of src/machine: the orchestrator service, backend choice (for walk doctor), and
// the pure pieces (names, policies, paths, console filtering) other layers may reuse.
export { MachineService, DEFAULT_MACHINES_CONFIG, type MachinesConfig, type MachineServiceDeps } from "./service.js";
export { backendReport, createDriver, type BackendConfig, type BackendReport, type BackendSetting } from "./backend.js";
export { parseRestartPolicy, formatRestartPolicy, decideRestart, DEFAULT_BACKOFF, type BackoffConfig, type RestartPolicy } from "./policy.js";
export { validateMachineName, generateMachineName, validateResources, DEFAULT_RESOURCES, type Resources } from "./names.js";
export { machinePaths, machinesDataRoot, machinesRuntimeRoot, type MachinePaths } from "./paths.js";
export { machineBootArgs } from "./bootargs.js";
export { ConsoleFilter, DEFAULT_CONSOLE_MAX_BYTES } from "./console.js";
export { NETWORK_MODES, type NetworkMode } from "./network.js";
