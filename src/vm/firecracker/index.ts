// Public surface of the Firecracker backend.
export { FirecrackerDriver, IFACE_ID } from "./driver.js";
export { checkBinaries, firecrackerHostProblems, DEFAULT_CONFIG_HINT, DEFAULT_CHROOT_BASE_DIR, type FirecrackerConfig, type JailerConfig, type HostProblem } from "./config.js";
export { FirecrackerApiClient, faultError, MAX_RESPONSE_BYTES } from "./api-client.js";
export { firecrackerLayout, JAIL_PATHS, type FirecrackerLayout, type MappedPath } from "./layout.js";
export { jailerArgs } from "./jail.js";
export * as requests from "./requests.js";
