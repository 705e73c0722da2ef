// Guest base endpoints: list, build (a job: it compiles a kernel), import, and the default.
import type { FastifyPluginAsync } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import { BaseBuildRequestSchema, BaseImportRequestSchema, BaseSchema, JobSchema } from "../schemas.js";
import type { ApiServices } from "../services.js";
import { jobWire } from "./jobs.js";

const errorRef = Type.Ref("Error");

export function baseRoutes(s: ApiServices): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<TypeBoxTypeProvider>();
    r.get("/v1/bases", { schema: { summary: "Installed guest bases", tags: ["bases"], response: { 200: Type.Array(BaseSchema) } } }, async () =>
      s.bases.list(),
    );
    r.post(
      "/v1/bases/build",
      {
        schema: {
          summary: "Build a base from Debian packages (starts a job)",
          description: "Kernel from linux-source-6.1, walk-init with musl, the base rootfs; each cached by content. Job events are {type: \"log\", line}.",
          tags: ["bases"],
          body: BaseBuildRequestSchema,
          response: { 202: JobSchema },
        },
      },
      async (req, reply) => reply.code(202).send(jobWire(s.bases.startBuild(req.body))),
    );
    r.post(
      "/v1/bases/import",
      {
        schema: {
          summary: "Import your own kernel (and optionally rootfs and firecracker binary)",
          tags: ["bases"],
          body: BaseImportRequestSchema,
          response: { 200: BaseSchema, 400: errorRef, 404: errorRef },
        },
      },
      async (req) => s.bases.import(req.body),
    );
    r.put(
      "/v1/bases/default",
      {
        schema: {
          summary: "Choose the default base",
          tags: ["bases"],
          body: Type.Object({ version: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false }),
          response: { 200: BaseSchema, 404: errorRef },
        },
      },
      async (req) => s.bases.setDefault(req.body.version),
    );
  };
}
