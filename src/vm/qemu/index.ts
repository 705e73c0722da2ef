// Public surface of the QEMU backend.
export { QemuDriver } from "./driver.js";
export { checkQemuBinary, qemuPathOf, DEFAULT_QEMU_PATH, DEFAULT_QEMU_CONFIG_HINT, type QemuConfig, type AccelSetting } from "./config.js";
export { probeKvm, resolveAccel, type Accel, type AccelChoice, type KvmProbe, type KvmProbePaths } from "./accel.js";
export { qemuCommandLine, bootArgsFor, qemuName, type QemuLaunch } from "./args.js";
export { qemuLayout, type QemuLayout } from "./layout.js";
export { qmpExecute, QmpControl, type QemuRunState } from "./qmp.js";
export { hostTscKhz, type TscSources } from "./tsc.js";
export { SNAPSHOT_FORMAT as QEMU_SNAPSHOT_FORMAT, type SnapshotMeta as QemuSnapshotMeta } from "./snapshot.js";
export { qemuHostReport, type QemuHostReport } from "./doctor.js";
