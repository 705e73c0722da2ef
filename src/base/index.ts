// Public surface of src/base: the guest base (kernel, walk-init rootfs) on a host, the kernel
// command line its init reads, the host end of the agent channel, and what the init speaks on it
// (exit status, the refresh of a restored guest). How a VMM boots it is src/vm's.
export { buildBase, missingBuildPackages, BUILD_PACKAGES, defaultGuestDir, type BuildOptions } from "./build.js";
export { importBase, kernelKind, checkRootfs, type ImportInput, type ImportOptions } from "./import.js";
export { listBases, resolveBase, verifyBase, getDefaultBase, setDefaultBase, baseRoot, type BaseEntry, type BasePaths } from "./store.js";
export { BASE_FILES, type BaseManifest, type BaseFile, type FileDigest } from "./manifest.js";
export { guestCmdline, BASE_BOOT_ARGS, type GuestParams } from "./cmdline.js";
export { AgentChannel } from "./agent.js";
export { REFRESH_CONTRACT, refreshCommand } from "./refresh.js";
export {
  parseStatusLine,
  describeStatus,
  AgentParser,
  ConsoleStatusScanner,
  BoundedLines,
  GUEST_ERRORS,
  MAX_STATUS_LINE,
  type GuestStatus,
  type GuestError,
  type StatusSource,
  type AgentEvent,
} from "./status.js";
