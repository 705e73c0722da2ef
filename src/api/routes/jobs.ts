// Job endpoints: status, listing, cancel, and the NDJSON event stream a client follows. Closing the
// stream only stops the stream; the job goes on.
import type { FastifyPluginAsync } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import { Readable } from "node:stream";
import { WalkError } from "../../lib/index.js";
import type { JobRecord } from "../../store/index.js";
import { JobSchema, type JobWire } from "../schemas.js";
import type { ApiServices } from "../services.js";

const errorRef = Type.Ref("Error");
const IdParams = Type.Object({ id: Type.String({ pattern: "^[0-9a-f]{32}$" }) });

export function jobWire(j: JobRecord): JobWire {
  return { id: j.id, kind: j.kind, state: j.state, result: j.result, error: j.error, created_at: j.createdAt, updated_at: j.updatedAt };
}

export function jobRoutes(s: ApiServices): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<TypeBoxTypeProvider>();
    const find = (id: string): JobRecord => {
      const j = s.jobs.get(id);
      if (!j) throw new WalkError("not_found", `no job ${id}`);
      return j;
    };

    r.get("/v1/jobs", { schema: { summary: "Recent jobs", tags: ["jobs"], response: { 200: Type.Array(JobSchema) } } }, async () =>
      s.jobs.list().map(jobWire),
    );

    r.get(
      "/v1/jobs/:id",
      { schema: { summary: "A job's state", tags: ["jobs"], params: IdParams, response: { 200: JobSchema, 404: errorRef } } },
      async (req) => jobWire(find(req.params.id)),
    );

    r.delete(
      "/v1/jobs/:id",
      { schema: { summary: "Cancel a running job", tags: ["jobs"], params: IdParams, response: { 200: JobSchema, 404: errorRef } } },
      async (req) => {
        find(req.params.id);
        s.jobs.cancel(req.params.id);
        return jobWire(find(req.params.id));
      },
    );

    r.get(
      "/v1/jobs/:id/events",
      {
        schema: {
          summary: "Follow a job's events",
          description: "A stream of JSON objects, one per line (application/x-ndjson), replaying from the start; the last has type \"end\".",
          tags: ["jobs"],
          params: IdParams,
          response: { 404: errorRef },
        },
      },
      async (req, reply) => {
        find(req.params.id);
        const abort = new AbortController();
        req.raw.on("close", () => abort.abort());
        const events = s.jobs.follow(req.params.id, abort.signal);
        const body = Readable.from(
          (async function* () {
            for await (const e of events) yield JSON.stringify(e) + "\n";
          })(),
        );
        return reply.header("content-type", "application/x-ndjson").header("cache-control", "no-store").send(body);
      },
    );
  };
}
