// System endpoints: version and liveness.
import type { FastifyPluginAsync } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import { VersionSchema } from "../schemas.js";
import type { ApiServices } from "../services.js";

export const API_VERSION = "v1";

export function systemRoutes(s: ApiServices): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<TypeBoxTypeProvider>();
    r.get("/v1/version", { schema: { summary: "walkd's version", tags: ["system"], response: { 200: VersionSchema } } }, async () => ({
      version: s.version,
      api_version: API_VERSION,
    }));
    r.get("/v1/health", { schema: { summary: "Liveness", tags: ["system"], response: { 200: Type.Object({ ok: Type.Boolean() }) } } }, async () => ({
      ok: true,
    }));
  };
}
