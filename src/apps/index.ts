// Public surface of src/apps: the walk.toml model, the apps store and the service that deploys
// apps and gives the activator their routes.
export { parseWalkToml, MAX_WALK_TOML_BYTES } from "./config.js";
export { type AppSpec, type ServiceSpec, type Autostop, type AppHealthCheck, MAX_MACHINES } from "./spec.js";
export { AppRepository, type AppRecord, type AppSlotRecord } from "./store.js";
export { AppService, type AppServiceDeps, type AppView, type AppMachineInfo, type DeployResult, type RouteSink } from "./service.js";
export { appRoutes as appActivatorRoutes } from "./routes.js";
export type { ActivatorInfo, ServiceMetrics } from "./metrics.js";
export { AppSlot, appMachineName } from "./backend.js";
export type { AppMachines, AppMachineView, AppMachineRequest } from "./machines.js";
