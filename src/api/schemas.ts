// The API's wire shapes (snake_case JSON), as TypeBox schemas. Routes validate against these and
// the OpenAPI document is generated from them, so the document cannot drift from the code.
import { Type, type Static } from "@sinclair/typebox";

export const ErrorSchema = Type.Object(
  { error: Type.String(), code: Type.String() },
  { $id: "Error", description: "Every error response has this shape." },
);

export const VersionSchema = Type.Object({ version: Type.String(), api_version: Type.String() });

export const JobSchema = Type.Object(
  {
    id: Type.String(),
    kind: Type.String(),
    state: Type.Union([Type.Literal("running"), Type.Literal("succeeded"), Type.Literal("failed"), Type.Literal("canceled")]),
    result: Type.Unknown(),
    error: Type.Union([ErrorSchema, Type.Null()]),
    created_at: Type.String(),
    updated_at: Type.String(),
  },
  { $id: "Job" },
);
export type JobWire = Static<typeof JobSchema>;

export const RegistryAuthSchema = Type.Object(
  {
    username: Type.Optional(Type.String({ maxLength: 4096 })),
    password: Type.Optional(Type.String({ maxLength: 65536 })),
    identity_token: Type.Optional(Type.String({ maxLength: 65536 })),
  },
  { description: "Credentials for this pull only; never stored or logged by walkd.", additionalProperties: false },
);

export const PullRequestSchema = Type.Object(
  {
    reference: Type.String({ minLength: 1, maxLength: 4096 }),
    platform: Type.Optional(Type.String({ maxLength: 256, description: "os/arch[/variant]; defaults to the host's" })),
    auth: Type.Optional(RegistryAuthSchema),
  },
  { additionalProperties: false },
);
export type PullRequest = Static<typeof PullRequestSchema>;

export const AppDiskSchema = Type.Object({
  id: Type.String(),
  config_id: Type.String(),
  path: Type.String(),
  size: Type.Integer(),
  created_at: Type.String(),
});

export const ImageSummarySchema = Type.Object(
  {
    digest: Type.String(),
    name: Type.String(),
    tags: Type.Array(Type.String()),
    os: Type.String(),
    architecture: Type.String(),
    variant: Type.Union([Type.String(), Type.Null()]),
    size: Type.Integer(),
    created_at: Type.String(),
    app_disks: Type.Array(AppDiskSchema),
  },
  { $id: "ImageSummary" },
);
export type ImageSummaryWire = Static<typeof ImageSummarySchema>;

export const ImageDetailSchema = Type.Composite(
  [
    Type.Omit(ImageSummarySchema, []),
    Type.Object({
      index_digest: Type.Union([Type.String(), Type.Null()]),
      config_digest: Type.String(),
      config: Type.Object({
        entrypoint: Type.Union([Type.Array(Type.String()), Type.Null()]),
        cmd: Type.Union([Type.Array(Type.String()), Type.Null()]),
        env: Type.Array(Type.String()),
        workdir: Type.String(),
        user: Type.String(),
        exposed_ports: Type.Array(Type.String()),
        labels: Type.Record(Type.String(), Type.String()),
        stop_signal: Type.Union([Type.String(), Type.Null()]),
      }),
      layers: Type.Array(Type.Object({ digest: Type.String(), size: Type.Integer(), media_type: Type.String() })),
    }),
  ],
  { $id: "ImageDetail" },
);
export type ImageDetailWire = Static<typeof ImageDetailSchema>;

export const PruneResultSchema = Type.Object({
  removed_blobs: Type.Array(Type.String()),
  removed_app_disks: Type.Array(Type.String()),
  reclaimed_bytes: Type.Integer(),
});
export type PruneResultWire = Static<typeof PruneResultSchema>;

export const RemoveImageResultSchema = Type.Object({
  untagged: Type.Array(Type.String()),
  deleted: Type.Union([Type.String(), Type.Null()]),
});
export type RemoveImageResultWire = Static<typeof RemoveImageResultSchema>;

export const LoginRequestSchema = Type.Object(
  {
    registry: Type.String({ minLength: 1, maxLength: 1024, description: "canonical registry name: docker.io, ghcr.io, localhost:5000" }),
    username: Type.String({ minLength: 1, maxLength: 4096 }),
    password: Type.String({ minLength: 1, maxLength: 65536 }),
  },
  { additionalProperties: false },
);
export type LoginRequest = Static<typeof LoginRequestSchema>;

export const BuildRequestSchema = Type.Object(
  {
    reference: Type.String({ minLength: 1, maxLength: 4096, description: "an image already pulled: reference or digest" }),
    entrypoint: Type.Optional(Type.Array(Type.String(), { maxItems: 65536, description: "replaces the image's Entrypoint and clears its Cmd" })),
    cmd: Type.Optional(Type.Array(Type.String(), { maxItems: 65536, description: "replaces the image's Cmd" })),
    env: Type.Optional(Type.Array(Type.String(), { maxItems: 65536, description: "KEY=VALUE entries applied after the image's Env" })),
    workdir: Type.Optional(Type.String({ maxLength: 4096 })),
    user: Type.Optional(Type.String({ maxLength: 512, description: "user, uid, user:group or uid:gid" })),
  },
  { additionalProperties: false },
);
export type BuildRequest = Static<typeof BuildRequestSchema>;

export const AppDiskResultSchema = Type.Object(
  {
    id: Type.String({ description: "<image-hex>-<config-id>" }),
    path: Type.String(),
    image_digest: Type.String(),
    config_id: Type.String(),
    size: Type.Integer(),
    reused: Type.Union([Type.Literal("disk"), Type.Literal("base"), Type.Literal("none")], {
      description: "disk: it existed; base: derived from the image's base disk; none: the layers were converted",
    }),
  },
  { $id: "AppDiskResult" },
);
export type AppDiskResultWire = Static<typeof AppDiskResultSchema>;

export const BaseSchema = Type.Object(
  {
    version: Type.String(),
    default: Type.Boolean(),
    origin: Type.Union([Type.Literal("build"), Type.Literal("import"), Type.Null()]),
    kernel_source: Type.Union([Type.String(), Type.Null()]),
    created_at: Type.Union([Type.String(), Type.Null()]),
    files: Type.Record(Type.String(), Type.Object({ path: Type.String(), sha256: Type.String(), size: Type.Integer() })),
    problem: Type.Union([Type.String(), Type.Null()], { description: "why the base is unusable, if it is" }),
  },
  { $id: "Base" },
);
export type BaseWire = Static<typeof BaseSchema>;

export const BaseBuildRequestSchema = Type.Object(
  {
    install_packages: Type.Optional(Type.Boolean({ description: "install missing Debian build packages with apt-get" })),
    make_default: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type BaseBuildRequest = Static<typeof BaseBuildRequestSchema>;

export const BaseImportRequestSchema = Type.Object(
  {
    kernel: Type.String({ minLength: 1, maxLength: 4096, description: "absolute path on the daemon's host" }),
    rootfs: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    firecracker: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    make_default: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type BaseImportRequest = Static<typeof BaseImportRequestSchema>;

export const DoctorSchema = Type.Object(
  {
    ok: Type.Boolean({ description: "true when no check failed: machines can run (warnings are optional features)" }),
    backend: Type.Union([Type.Literal("firecracker"), Type.Literal("qemu"), Type.Null()]),
    reasons: Type.Array(Type.String()),
    checks: Type.Array(
      Type.Object({
        name: Type.String(),
        status: Type.Union([Type.Literal("ok"), Type.Literal("warn"), Type.Literal("fail")]),
        detail: Type.String(),
        fix: Type.Union([Type.String(), Type.Null()]),
      }),
    ),
  },
  { $id: "Doctor" },
);
export type DoctorWire = Static<typeof DoctorSchema>;
