// A throwaway "walkd" for the daemon-restart test: starts one VM with the Firecracker driver,
// prints its VmRecord as JSON, and returns. The process must then exit on its own while the VM
// runs on (the VMM is detached and unref'd). Usage: node start-vm.js '<{"config":…,"spec":…}>'
import { FirecrackerDriver, type FirecrackerConfig, type MachineSpec } from "../../../src/vm/index.js";

const { config, spec } = JSON.parse(process.argv[2] ?? "{}") as { config: FirecrackerConfig; spec: MachineSpec };
const vm = new FirecrackerDriver(config).create(spec);
await vm.start();
process.stdout.write(JSON.stringify(vm.record) + "\n");
