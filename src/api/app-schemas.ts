// Wire shapes of the apps API (snake_case JSON) as TypeBox schemas: the deploy request, the app
// and the deploy result. The OpenAPI document is generated from them.
import { Type, type Static } from "@sinclair/typebox";
import { MachineStateSchema } from "./machine-schemas.js";

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const DeployRequestSchema = Type.Object(
  {
    config: Type.String({ minLength: 1, maxLength: 256 * 1024, description: "the walk.toml text; validated by walkd with the same rules as the CLI" }),
    file: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: "the file's name, used in error messages (default walk.toml)" })),
  },
  { additionalProperties: false },
);
export type DeployRequest = Static<typeof DeployRequestSchema>;

const HealthCheckSchema = Type.Union([Type.Object({ type: Type.Literal("tcp") }), Type.Object({ type: Type.Literal("http"), path: Type.String() })]);

export const ServiceSchema = Type.Object({
  internal_port: Type.Integer(),
  hostnames: Type.Array(Type.String(), { description: "extra hostnames; the first service also answers on <app>.localhost, service i > 0 on <app>-<i>.localhost" }),
  host_port: Nullable(Type.Integer()),
  autostart: Type.Boolean(),
  autostop: Type.Union([Type.Literal("stop"), Type.Literal("suspend"), Type.Literal(false)]),
  idle_timeout: Type.Integer({ description: "seconds" }),
  wake_timeout: Type.Integer({ description: "seconds" }),
  min_machines: Type.Integer({ description: "machines kept running for this service (0: scale to zero)" }),
  concurrency: Type.Object({ soft: Type.Integer(), hard: Type.Integer() }),
  health_check: Nullable(HealthCheckSchema),
});

export const AppMachineSchema = Type.Object({
  slot: Type.Integer({ description: "the machine's slot, 0 to max_machines - 1: load goes to the lowest slots first" }),
  id: Type.String(),
  name: Type.String({ description: "<app>-<slot>-g<generation>" }),
  state: MachineStateSchema,
  generation: Type.Integer({ description: "the app generation the machine was created for" }),
  snapshot_generation: Nullable(Type.Integer({ description: "the generation of a valid suspend snapshot of this machine, if any" })),
});

export const AppSchema = Type.Object(
  {
    name: Type.String(),
    image: Type.String(),
    env: Type.Array(Type.String()),
    cpus: Type.Integer(),
    memory_mib: Type.Integer(),
    max_machines: Type.Integer({ description: "machines the app may run at once; each serves every service" }),
    services: Type.Array(ServiceSchema),
    generation: Type.Integer({ description: "bumped by every deploy" }),
    machines: Type.Array(AppMachineSchema, { description: "the slots that have a machine (running or not), by slot; empty before the first wake" }),
    unserved: Nullable(Type.String({ description: "why the activator does not route the app (e.g. its host port was taken when walkd started; redeploy once fixed), or null" })),
    created_at: Type.String(),
    updated_at: Type.String(),
  },
  { $id: "App" },
);
export type AppWire = Static<typeof AppSchema>;

export const DeployResultSchema = Type.Object({
  app: Type.Ref("App"),
  rollout: Type.Union([Type.Literal("recorded"), Type.Literal("replaced"), Type.Literal("started")], {
    description: "recorded: no machine was replaced or started, the next wakes use the new generation; replaced: new machines replaced the running ones, slot by slot; started: machines were started for min_machines",
  }),
});
export type DeployResultWire = { app: AppWire; rollout: "recorded" | "replaced" | "started" };

export const AppNameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 63, description: "the app's name" }) });

export const AppLogsQuerySchema = Type.Object({
  follow: Type.Optional(Type.Boolean({ description: "keep streaming while the app's machines run" })),
  machine: Type.Optional(Type.Integer({ minimum: 0, description: "only the machine of this slot, without the name prefix" })),
});
