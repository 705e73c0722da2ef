// Builds walkd's REST API as a Fastify instance: routes, the error shape, and the guards of the
// TCP listener (bearer token, Host-header check against DNS rebinding). The same routes serve the
// Unix socket and the optional TCP listener; only the guards differ.
import Fastify, { LogController, type FastifyError } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { timingSafeEqual } from "node:crypto";
import { isWalkError, type Logger } from "../lib/index.js";
import { HTTP_STATUS, type ErrorBody } from "./errors.js";
import { ErrorSchema } from "./schemas.js";
import { systemRoutes } from "./routes/system.js";
import { jobRoutes } from "./routes/jobs.js";
import { imageRoutes } from "./routes/images.js";
import { registryRoutes } from "./routes/registries.js";
import { baseRoutes } from "./routes/bases.js";
import { doctorRoutes } from "./routes/doctor.js";
import { machineRoutes } from "./routes/machines.js";
import { appRoutes } from "./routes/apps.js";
import { activatorRoutes } from "./routes/activator.js";
import type { ApiServices } from "./services.js";



export interface ApiGuards {
  /** Required bearer token; set for the TCP listener. */
  token?: string;
  /** Accepted Host header names (without port); set for the TCP listener. */
  allowedHosts?: readonly string[];
}

export interface RouteCollector {
  onRoute(route: { method: string | string[]; url: string; schema?: unknown }): void;
}

export async function buildApi(services: ApiServices, log: Logger, guards: ApiGuards = {}, collector?: RouteCollector) {
  const app = Fastify({
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1 << 20,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: "array" } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addSchema(ErrorSchema);
  if (collector) app.addHook("onRoute", (r) => collector.onRoute(r));

  app.addHook("onRequest", async (req, reply) => {
    if (guards.allowedHosts) {
      const host = hostName(req.headers.host ?? "");
      if (!guards.allowedHosts.includes(host)) {
        return reply.code(403).send(errorBody("forbidden", `Host ${JSON.stringify(host)} is not allowed on this listener`));
      }
    }
    if (guards.token !== undefined && !bearerMatches(req.headers.authorization, guards.token)) {
      return reply.code(401).header("www-authenticate", "Bearer").send(errorBody("unauthorized", "a valid bearer token is required"));
    }
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (isWalkError(err)) {
      return reply.code(HTTP_STATUS[err.code]).send(errorBody(err.code, err.message));
    }
    if (err.validation) {
      return reply.code(400).send(errorBody("invalid_argument", err.message));
    }
    if (typeof err.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(err.statusCode).send(errorBody(err.statusCode === 404 ? "not_found" : "invalid_argument", err.message));
    }
    req.log.error({ err }, "unhandled error");
    return reply.code(500).send(errorBody("internal", "internal error; see walkd's log"));
  });

  app.setNotFoundHandler((req, reply) => reply.code(404).send(errorBody("not_found", `no such endpoint: ${req.method} ${req.url}`)));

  await app.register(systemRoutes(services));
  await app.register(jobRoutes(services));
  await app.register(imageRoutes(services));
  await app.register(registryRoutes(services));
  await app.register(baseRoutes(services));
  await app.register(doctorRoutes(services));
  await app.register(machineRoutes(services));
  await app.register(appRoutes(services));
  await app.register(activatorRoutes(services));
  return app;
}

function errorBody(code: ErrorBody["code"], message: string): ErrorBody {
  return { error: message, code };
}

function hostName(host: string): string {
  if (host.startsWith("[")) return host.slice(0, host.indexOf("]") + 1);
  const colon = host.lastIndexOf(":");
  return (colon === -1 ? host : host.slice(0, colon)).toLowerCase();
}

function bearerMatches(header: string | undefined, token: string): boolean {
  if (!header?.startsWith("Bearer ")) return false;
  const given = Buffer.from(header.slice("Bearer ".length));
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}
export type Api = Awaited<ReturnType<typeof buildApi>>;
