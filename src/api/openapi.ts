// Generates the OpenAPI 3.1 document from the registered route schemas. docs/openapi.json is this
// output, committed; CI regenerates it and fails on any difference (src/api/openapi-cli.ts).
import { silentLogger } from "../lib/index.js";
import { buildApi } from "./server.js";
import { AppDiskResultSchema, BaseSchema, DoctorSchema, ErrorSchema, ImageDetailSchema, ImageSummarySchema, JobSchema } from "./schemas.js";
import { API_VERSION } from "./routes/system.js";
import { MachineSchema } from "./machine-schemas.js";
import { AppSchema } from "./app-schemas.js";
import { HistogramSchema } from "./activator-schemas.js";
import type { ApiServices } from "./services.js";

interface RouteSchema {
  summary?: string;
  description?: string;
  tags?: string[];
  params?: { properties?: Record<string, unknown>; required?: string[] };
  querystring?: { properties?: Record<string, unknown>; required?: string[] };
  body?: unknown;
  response?: Record<string, unknown>;
}

const COMPONENTS = { Error: ErrorSchema, Job: JobSchema, ImageSummary: ImageSummarySchema, ImageDetail: ImageDetailSchema, AppDiskResult: AppDiskResultSchema, Base: BaseSchema, Doctor: DoctorSchema, Machine: MachineSchema, App: AppSchema, Histogram: HistogramSchema };

/** Plain JSON of a schema, with `$ref: "Name"` and embedded `$id` schemas pointed at components. */
function toOpenApiSchema(schema: unknown): unknown {
  const plain = JSON.parse(JSON.stringify(schema)) as unknown;
  const walk = (v: unknown, top: boolean): unknown => {
    if (Array.isArray(v)) return v.map((x) => walk(x, false));
    if (v === null || typeof v !== "object") return v;
    const o = v as Record<string, unknown>;
    if (typeof o.$ref === "string" && !o.$ref.startsWith("#")) return { $ref: `#/components/schemas/${o.$ref}` };
    if (!top && typeof o.$id === "string" && o.$id in COMPONENTS) return { $ref: `#/components/schemas/${o.$id}` };
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) if (k !== "$id") out[k] = walk(x, false);
    return out;
  };
  return walk(plain, true);
}

function parameters(where: "path" | "query", s: RouteSchema["params"]): unknown[] {
  if (!s?.properties) return [];
  return Object.entries(s.properties).map(([name, schema]) => ({
    name,
    in: where,
    required: where === "path" || (s.required ?? []).includes(name),
    schema: toOpenApiSchema(schema),
  }));
}

export async function generateOpenApi(version: string): Promise<Record<string, unknown>> {
  const routes: { method: string; url: string; schema: RouteSchema }[] = [];
  // Route registration never calls the services, so none are needed to read the schemas.
  const services = {} as ApiServices;
  const app = await buildApi(services, silentLogger(), {}, {
    onRoute: (r) => {
      const methods = Array.isArray(r.method) ? r.method : [r.method];
      for (const m of methods) if (m !== "HEAD") routes.push({ method: m.toLowerCase(), url: r.url, schema: r.schema ?? {} });
    },
  });
  await app.close();

  const paths: Record<string, Record<string, unknown>> = {};
  for (const { method, url, schema } of routes.sort((a, b) => a.url.localeCompare(b.url) || a.method.localeCompare(b.method))) {
    const path = url.replace(/:([A-Za-z_]+)/g, "{$1}");
    const responses: Record<string, unknown> = {};
    for (const [status, s] of Object.entries(schema.response ?? {})) {
      responses[status] = { description: status.startsWith("2") ? "OK" : "Error", content: { "application/json": { schema: toOpenApiSchema(s) } } };
    }
    if (Object.keys(responses).length === 0) responses["200"] = { description: "OK" };
    responses.default = { description: "Error", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } };
    const op: Record<string, unknown> = {
      summary: schema.summary,
      description: schema.description,
      tags: schema.tags,
      parameters: [...parameters("path", schema.params), ...parameters("query", schema.querystring)],
      responses,
    };
    if (schema.body !== undefined) op.requestBody = { required: true, content: { "application/json": { schema: toOpenApiSchema(schema.body) } } };
    (paths[path] ??= {})[method] = JSON.parse(JSON.stringify(op)) as unknown;
  }
  const components: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(COMPONENTS)) components[name] = toOpenApiSchema(s);
  return {
    openapi: "3.1.0",
    info: {
      title: "walkd API",
      version,
      description: `walk.io's daemon API (${API_VERSION}). Served on a Unix socket (default /run/walk/walkd.sock); an optional TCP listener requires a bearer token.`,
    },
    paths,
    components: { schemas: components, securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
  };
}
