// Machine endpoints under /v1/machines: create (with Idempotency-Key), list, inspect, start, stop,
// kill, restart, remove, logs (optionally followed) and wait. Translation only; the lifecycle is
// src/machine's.
import type { FastifyPluginAsync } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import { Readable } from "node:stream";
import { WalkError } from "../../lib/index.js";
import { CreateMachineRequestSchema, ListQuerySchema, LogsQuerySchema, MachineRefParams, MachineSchema, RemoveQuerySchema, StopQuerySchema, WaitQuerySchema } from "../machine-schemas.js";
import type { ApiServices } from "../services.js";

const errorRef = Type.Ref("Error");
const machineRef = Type.Ref("Machine");

/** `since`: an RFC 3339 time, or a duration before now (`90s`, `5m`, `2h`). */
export function parseSince(text: string, now = Date.now()): number {
  const d = /^(\d{1,9})(s|m|h)$/.exec(text);
  if (d) return now - Number(d[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[d[2] as "s" | "m" | "h"];
  const t = /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(t)) throw new WalkError("invalid_argument", `since must be an RFC 3339 time (2026-01-02T15:04:05Z) or a duration like 30s, 5m or 2h, got ${JSON.stringify(text)}`);
  return t;
}

export function machineRoutes(s: ApiServices): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<TypeBoxTypeProvider>();
    app.addSchema(MachineSchema);

    r.post(
      "/v1/machines",
      {
        schema: {
          summary: "Create a machine (pulls the image and builds its app disk when needed; optionally starts it)",
          description:
            "With an Idempotency-Key header: the same key and body returns the same machine (200), the same key with another body is 422, and a retry while the first request runs is 409. With start=true a failed start still returns the machine, in state failed with last_error set. Published ports are checked before anything is created or booted: a bad spec is 400, a privileged host port without the operator's permission 403, a port another machine publishes or a process holds 409, an exhausted address pool 413.",
          tags: ["machines"],
          headers: Type.Object({ "idempotency-key": Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) }),
          body: CreateMachineRequestSchema,
          response: { 200: machineRef, 201: machineRef, 400: errorRef, 403: errorRef, 404: errorRef, 409: errorRef, 413: errorRef, 422: errorRef, 503: errorRef },
        },
      },
      async (req, reply) => {
        const key = req.headers["idempotency-key"];
        if (typeof key === "string") {
          const { machine, replayed } = await s.machines.createIdempotent(key, req.body);
          return reply.code(replayed ? 200 : 201).send(machine);
        }
        return reply.code(201).send(await s.machines.create(req.body));
      },
    );

    r.get(
      "/v1/machines",
      { schema: { summary: "List machines (running ones, or all with ?all=true)", tags: ["machines"], querystring: ListQuerySchema, response: { 200: Type.Array(machineRef) } } },
      async (req) => s.machines.list({ all: req.query.all === true }),
    );

    r.get(
      "/v1/machines/:ref",
      { schema: { summary: "Inspect a machine", tags: ["machines"], params: MachineRefParams, response: { 200: machineRef, 404: errorRef } } },
      async (req) => s.machines.inspect(req.params.ref),
    );

    r.post(
      "/v1/machines/:ref/start",
      { schema: { summary: "Start a machine (a no-op when it is started)", tags: ["machines"], params: MachineRefParams, response: { 200: machineRef, 404: errorRef, 409: errorRef } } },
      async (req) => s.machines.start(req.params.ref),
    );

    r.post(
      "/v1/machines/:ref/stop",
      {
        schema: {
          summary: "Stop a machine gracefully, killing it after the timeout (a no-op when it is stopped)",
          tags: ["machines"],
          params: MachineRefParams,
          querystring: StopQuerySchema,
          response: { 200: machineRef, 404: errorRef, 409: errorRef },
        },
      },
      async (req) => s.machines.stop(req.params.ref, req.query.timeout === undefined ? {} : { timeoutMs: req.query.timeout * 1000 }),
    );

    r.post(
      "/v1/machines/:ref/kill",
      { schema: { summary: "Kill a machine's VM at once", tags: ["machines"], params: MachineRefParams, response: { 200: machineRef, 404: errorRef, 409: errorRef } } },
      async (req) => s.machines.kill(req.params.ref),
    );

    r.post(
      "/v1/machines/:ref/restart",
      {
        schema: { summary: "Stop (gracefully, with the timeout) and start a machine", tags: ["machines"], params: MachineRefParams, querystring: StopQuerySchema, response: { 200: machineRef, 404: errorRef, 409: errorRef } },
      },
      async (req) => s.machines.restart(req.params.ref, req.query.timeout === undefined ? {} : { timeoutMs: req.query.timeout * 1000 }),
    );

    r.delete(
      "/v1/machines/:ref",
      {
        schema: {
          summary: "Remove a machine, its state disk and logs (refuses a running one without ?force=true)",
          description: "Removing a machine that is already removed returns it again (state destroyed).",
          tags: ["machines"],
          params: MachineRefParams,
          querystring: RemoveQuerySchema,
          response: { 200: machineRef, 404: errorRef, 409: errorRef },
        },
      },
      async (req) => s.machines.remove(req.params.ref, { force: req.query.force === true }),
    );

    r.get(
      "/v1/machines/:ref/logs",
      {
        schema: {
          summary: "The machine's console output (the workload's stdout and stderr)",
          description:
            "text/plain, chunked. walk's protocol lines (the guest's exit-status report, boot markers) are removed and CRLF is sent as LF. follow=true streams until the machine stops with no restart pending.",
          tags: ["machines"],
          params: MachineRefParams,
          querystring: LogsQuerySchema,
          response: { 400: errorRef, 404: errorRef },
        },
      },
      async (req, reply) => {
        const sinceMs = req.query.since === undefined ? undefined : parseSince(req.query.since);
        const abort = new AbortController();
        reply.raw.on("close", () => abort.abort());
        const chunks = s.machines.logs(req.params.ref, { follow: req.query.follow === true, signal: abort.signal, ...(sinceMs !== undefined ? { sinceMs } : {}) });
        return reply.header("content-type", "text/plain; charset=utf-8").header("cache-control", "no-store").send(Readable.from(chunks));
      },
    );

    r.get(
      "/v1/machines/:ref/wait",
      {
        schema: {
          summary: "Wait until a machine reaches a state (default: exited, i.e. not running and no restart pending)",
          tags: ["machines"],
          params: MachineRefParams,
          querystring: WaitQuerySchema,
          response: { 200: machineRef, 404: errorRef, 409: errorRef, 504: errorRef },
        },
      },
      async (req, reply) => {
        const abort = new AbortController();
        reply.raw.on("close", () => abort.abort());
        return s.machines.wait(req.params.ref, req.query.state ?? "exited", (req.query.timeout ?? 300) * 1000, abort.signal);
      },
    );
  };
}
