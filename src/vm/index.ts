// Public surface of src/vm: the driver interface, spec validation, process identity, and the backends.
export * from "./types.js";
export { validateMachineSpec, timeoutsOf, DEFAULT_TIMEOUTS, DEFAULT_STOP_TIMEOUT_MS, MAX_BOOT_ARGS_BYTES } from "./spec.js";
export { readProcessStat, parseProcessStat, isSameProcessAlive, type ProcessStat } from "./proc.js";
export * from "./firecracker/index.js";
export * from "./qemu/index.js";
