// Registry endpoints: checking credentials for `walk login`. walkd never stores them; the CLI
// saves them on the user's side once walkd has confirmed the registry accepts them.
import type { FastifyPluginAsync } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import { LoginRequestSchema } from "../schemas.js";
import type { ApiServices } from "../services.js";

export function registryRoutes(s: ApiServices): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<TypeBoxTypeProvider>();
    r.post(
      "/v1/registries/login",
      {
        schema: {
          summary: "Check credentials against a registry",
          description: "Answers 200 when the registry accepts the credentials, 401 when it rejects them. Nothing is stored.",
          tags: ["registries"],
          body: LoginRequestSchema,
          response: { 200: Type.Object({ registry: Type.String(), ok: Type.Boolean() }), 401: Type.Ref("Error") },
        },
      },
      async (req) => {
        await s.images.verifyLogin(req.body);
        return { registry: req.body.registry, ok: true };
      },
    );
  };
}
