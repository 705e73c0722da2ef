// App endpoints under /v1/apps: deploy (create or update from walk.toml text), list, inspect,
// remove and logs (the console of the app's machines). Translation only; the app model and the
// rollout are src/apps'.
import type { FastifyPluginAsync } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import { Readable } from "node:stream";
import type { AppView } from "../../apps/index.js";
import { AppLogsQuerySchema, AppNameParams, AppSchema, DeployRequestSchema, DeployResultSchema, type AppWire } from "../app-schemas.js";
import type { ApiServices } from "../services.js";

const errorRef = Type.Ref("Error");
const appRef = Type.Ref("App");

export function appWire(r: AppView): AppWire {
  const { spec } = r;
  return {
    name: spec.name,
    image: spec.image,
    env: spec.env,
    cpus: spec.cpus,
    memory_mib: spec.memoryMib,
    max_machines: spec.maxMachines,
    services: spec.services.map((s) => ({
      internal_port: s.internalPort,
      hostnames: s.hostnames,
      host_port: s.hostPort,
      autostart: s.autostart,
      autostop: s.autostop,
      idle_timeout: s.idleTimeoutS,
      wake_timeout: s.wakeTimeoutS,
      min_machines: s.minMachines,
      concurrency: s.concurrency,
      health_check: s.healthCheck,
    })),
    generation: r.generation,
    machines: r.machines.map((m) => ({ slot: m.slot, id: m.machineId, name: m.name, state: m.state, generation: m.generation, snapshot_generation: m.snapshotGeneration })),
    unserved: r.unserved,
    created_at: r.createdAt,
    updated_at: r.updatedAt,
  };
}

export function appRoutes(s: ApiServices): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<TypeBoxTypeProvider>();
    app.addSchema(AppSchema);

    r.post(
      "/v1/apps",
      {
        schema: {
          summary: "Deploy an app from walk.toml text: create it, or record a new generation and roll it onto the app's machines",
          description:
            "A bad walk.toml is 400 (the message names the file and the key); a hostname or host port another app uses is 409, with nothing recorded. Each running machine is replaced, slot by slot, by one of the new generation (the old one drains, then is removed); stopped machines are replaced at their next wake; machines start until min_machines run; slots beyond max_machines are removed. Every snapshot of the app is invalidated. A new machine that does not start is 503; the previous one keeps serving.",
          tags: ["apps"],
          body: DeployRequestSchema,
          response: { 200: DeployResultSchema, 400: errorRef, 409: errorRef, 503: errorRef },
        },
      },
      async (req) => {
        const res = await s.apps.deploy(req.body.config, req.body.file ?? "walk.toml");
        return { app: appWire(res.app), rollout: res.rollout };
      },
    );

    r.get("/v1/apps", { schema: { summary: "List apps", tags: ["apps"], response: { 200: Type.Array(appRef) } } }, async () => s.apps.list().map(appWire));

    r.get(
      "/v1/apps/:name",
      { schema: { summary: "Inspect an app", tags: ["apps"], params: AppNameParams, response: { 200: appRef, 404: errorRef } } },
      async (req) => appWire(s.apps.inspect(req.params.name)),
    );

    r.delete(
      "/v1/apps/:name",
      { schema: { summary: "Remove an app: its routes, then its machines, then its record", tags: ["apps"], params: AppNameParams, response: { 200: appRef, 404: errorRef } } },
      async (req) => appWire(await s.apps.remove(req.params.name)),
    );

    r.get(
      "/v1/apps/:name/logs",
      {
        schema: {
          summary: "The console output of the app's machines (text/plain; empty before the first wake)",
          description: "Of every machine, each line prefixed with `<machine name> | ` when there are several (interleaved as lines arrive with follow), or of the machine of one slot (`machine`, 404 when the slot has none).",
          tags: ["apps"],
          params: AppNameParams,
          querystring: AppLogsQuerySchema,
          response: { 404: errorRef },
        },
      },
      async (req, reply) => {
        const abort = new AbortController();
        const chunks = s.apps.logs(req.params.name, { follow: req.query.follow === true, signal: abort.signal, ...(req.query.machine !== undefined ? { slot: req.query.machine } : {}) });
        reply.raw.on("close", () => abort.abort());
        return reply.header("content-type", "text/plain; charset=utf-8").header("cache-control", "no-store").send(Readable.from(chunks));
      },
    );
  };
}
