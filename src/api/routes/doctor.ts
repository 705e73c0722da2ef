// The doctor endpoint: what this host can run, which backend walk uses, and how to fix the rest.
import type { FastifyPluginAsync } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { DoctorSchema } from "../schemas.js";
import type { ApiServices } from "../services.js";

export function doctorRoutes(s: ApiServices): FastifyPluginAsync {
  return async (app) => {
    app.withTypeProvider<TypeBoxTypeProvider>().get(
      "/v1/doctor",
      { schema: { summary: "Host checks: backend, KVM, Firecracker, QEMU, base, tools", tags: ["system"], response: { 200: DoctorSchema } } },
      async () => s.doctor(),
    );
  };
}
