// Image endpoints: pull (as a job), list, inspect, remove, prune.
import type { FastifyPluginAsync } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import { BuildRequestSchema, ImageDetailSchema, ImageSummarySchema, JobSchema, PruneResultSchema, PullRequestSchema, RemoveImageResultSchema } from "../schemas.js";
import type { ApiServices } from "../services.js";
import { jobWire } from "./jobs.js";

const errorRef = Type.Ref("Error");
const RefParams = Type.Object({ ref: Type.String({ minLength: 1, maxLength: 4096, description: "a reference or digest, URL-encoded" }) });

export function imageRoutes(s: ApiServices): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<TypeBoxTypeProvider>();

    r.post(
      "/v1/images/pull",
      {
        schema: {
          summary: "Pull an image (starts a job)",
          description: "Returns the job at once; follow GET /v1/jobs/{id}/events for progress. The job's result is {digest, reference}.",
          tags: ["images"],
          body: PullRequestSchema,
          response: { 202: JobSchema, 400: errorRef },
        },
      },
      async (req, reply) => {
        const job = s.images.startPull(req.body);
        return reply.code(202).send(jobWire(job));
      },
    );

    r.post(
      "/v1/images/build",
      {
        schema: {
          summary: "Build (or find) the app disk for an image and runtime config (starts a job)",
          description:
            "The job's result is an AppDiskResult. The same image and config is a lookup; a new config on an image already built derives from its base disk without reading the layers.",
          tags: ["images"],
          body: BuildRequestSchema,
          response: { 202: JobSchema, 400: errorRef, 404: errorRef },
        },
      },
      async (req, reply) => reply.code(202).send(jobWire(s.images.startBuild(req.body))),
    );

    r.get("/v1/images", { schema: { summary: "List images", tags: ["images"], response: { 200: Type.Array(ImageSummarySchema) } } }, async () =>
      s.images.list(),
    );

    r.get(
      "/v1/images/:ref",
      { schema: { summary: "Inspect an image", tags: ["images"], params: RefParams, response: { 200: ImageDetailSchema, 404: errorRef } } },
      async (req) => s.images.inspect(req.params.ref),
    );

    r.delete(
      "/v1/images/:ref",
      {
        schema: {
          summary: "Remove an image or one of its tags",
          description: "By tag: removes the tag, and the image when no tag is left. By digest: removes the image and all its tags.",
          tags: ["images"],
          params: RefParams,
          response: { 200: RemoveImageResultSchema, 404: errorRef },
        },
      },
      async (req) => s.images.remove(req.params.ref),
    );

    r.post(
      "/v1/images/prune",
      {
        schema: {
          summary: "Remove blobs and app disks no image references",
          tags: ["images"],
          response: { 200: PruneResultSchema },
        },
      },
      async () => s.images.prune(),
    );
  };
}
