// Wire shapes of the machines API (snake_case JSON) as TypeBox schemas: the create request, the
// machine, and the query strings of stop, logs and wait. The OpenAPI document is generated from them.
import { Type, type Static } from "@sinclair/typebox";

const STATES = ["created", "starting", "started", "stopping", "stopped", "failed", "destroyed"] as const;
export const MachineStateSchema = Type.Union(STATES.map((s) => Type.Literal(s)));

export const CreateMachineRequestSchema = Type.Object(
  {
    image: Type.String({ minLength: 1, maxLength: 4096, description: "image reference or digest; pulled when missing" }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 63, description: "a DNS label, unique among machines; default <image>-<4 hex>" })),
    entrypoint: Type.Optional(Type.Array(Type.String(), { maxItems: 65536, description: "replaces the image's Entrypoint and clears its Cmd" })),
    cmd: Type.Optional(Type.Array(Type.String(), { maxItems: 65536, description: "replaces the image's Cmd" })),
    env: Type.Optional(Type.Array(Type.String(), { maxItems: 65536, description: "KEY=VALUE entries applied after the image's Env" })),
    workdir: Type.Optional(Type.String({ maxLength: 4096 })),
    user: Type.Optional(Type.String({ maxLength: 512 })),
    cpus: Type.Optional(Type.Integer({ minimum: 1, maximum: 32, description: "vCPUs, default 1" })),
    memory_mib: Type.Optional(Type.Integer({ minimum: 1, description: "guest memory, default 256" })),
    disk_mib: Type.Optional(Type.Integer({ minimum: 1, description: "state disk size, default 1024 (sparse)" })),
    restart: Type.Optional(Type.String({ maxLength: 32, description: "no (default), on-failure, on-failure:N or always" })),
    network: Type.Optional(Type.Union([Type.Literal("default"), Type.Literal("none")], { description: "default (the operator's [machines] network, normally \"default\"): a tap, a private /30 and NAT; none: no NIC" })),
    ports: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 80 }), { maxItems: 64, description: "published ports, [HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp]; HOSTIP defaults to the operator's network.publish_default_address (loopback)" }),
    ),
    start: Type.Optional(Type.Boolean({ description: "start it once created (default false)" })),
  },
  { additionalProperties: false },
);
export type CreateMachineRequest = Static<typeof CreateMachineRequestSchema>;

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const MachineNetSchema = Type.Object({
  ip: Type.String({ description: "the guest's private address" }),
  prefix: Type.Integer(),
  gateway: Type.String({ description: "the host side of the tap (also the DNS forwarder when network.dns = \"forward\")" }),
  subnet: Type.String(),
  mac: Type.String(),
  tap: Type.String(),
  mtu: Type.Integer(),
  dns: Type.Array(Type.String()),
  ports: Type.Array(Type.Object({ host_ip: Type.String(), host_port: Type.Integer(), guest_port: Type.Integer(), protocol: Type.Union([Type.Literal("tcp"), Type.Literal("udp")]) })),
});
export type MachineNetWire = Static<typeof MachineNetSchema>;

export const MachineSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    state: MachineStateSchema,
    image: Type.Object({ reference: Type.String(), digest: Type.String() }),
    app_disk: Type.Object({ id: Type.String(), path: Type.String() }),
    base_version: Type.String(),
    cpus: Type.Integer(),
    memory_mib: Type.Integer(),
    disk_mib: Type.Integer(),
    restart: Type.Object({
      policy: Type.String({ description: "no, on-failure, on-failure:N or always" }),
      count: Type.Integer({ description: "automatic restarts since the last start by a user" }),
      pending_at: Nullable(Type.String({ description: "when an automatic restart is due" })),
    }),
    network: Type.String({ description: "default or none" }),
    net: Nullable(MachineNetSchema),
    backend: Type.Union([Type.Literal("firecracker"), Type.Literal("qemu")]),
    vm: Nullable(Type.Object({ pid: Type.Integer(), start_time: Type.String(), control_socket: Type.String() })),
    exit_code: Nullable(Type.Integer({ description: "the workload's exit code, from the guest's report" })),
    exit_signal: Nullable(Type.Integer({ description: "the signal that ended the workload" })),
    last_error: Nullable(Type.String()),
    created_at: Type.String(),
    started_at: Nullable(Type.String()),
    finished_at: Nullable(Type.String()),
    paths: Type.Object({ runtime_dir: Type.String(), state_disk: Type.String(), console_log: Type.String() }),
  },
  { $id: "Machine" },
);
export type MachineWire = Static<typeof MachineSchema>;

export const MachineRefParams = Type.Object({ ref: Type.String({ minLength: 1, maxLength: 64, description: "machine id, unique id prefix, or name" }) });

export const StopQuerySchema = Type.Object({
  timeout: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600, description: "seconds to wait for a graceful stop before the VM is killed (default 10)" })),
});

export const ListQuerySchema = Type.Object({ all: Type.Optional(Type.Boolean({ description: "include machines that are not running" })) });

export const RemoveQuerySchema = Type.Object({ force: Type.Optional(Type.Boolean({ description: "kill a running machine first" })) });

export const LogsQuerySchema = Type.Object({
  follow: Type.Optional(Type.Boolean({ description: "keep streaming while the machine runs (or waits to restart)" })),
  since: Type.Optional(Type.String({ maxLength: 64, description: "RFC 3339 time, or a duration before now: 30s, 5m, 2h" })),
});

export const WaitQuerySchema = Type.Object({
  state: Type.Optional(Type.Union([...STATES.map((s) => Type.Literal(s)), Type.Literal("exited")], { description: "default exited: not running and no restart pending" })),
  timeout: Type.Optional(Type.Integer({ minimum: 0, maximum: 86400, description: "seconds (default 300)" })),
});
