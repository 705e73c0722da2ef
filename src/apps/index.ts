// Public surface of src/apps: the walk.toml model, the apps store and the service that deploys
// apps and gives the activator their routes.
export { parseWalkToml, MAX_WALK_TOML_BYTES } from "./config.js";
export { type AppSpec, type ServiceSpec, type Autostop, type AppHealthCheck } from "./spec.js";
export { AppRepository, type AppRecord } from "./store.js";
export { AppService, appRoutes as appActivatorRoutes, type AppServiceDeps, type DeployResult, type RouteSink } from "./service.js";
export { AppMachine, appMachineName } from "./backend.js";
export type { AppMachines, AppMachineView, AppMachineRequest } from "./machines.js";
