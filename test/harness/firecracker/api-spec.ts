// Firecracker's published API (firecracker.yaml, Swagger 2.0) turned into a router and JSON
// Schema (draft-07) validators, for the stand-in. Read from ../shared at run time; nothing of the
// spec is copied into the repository. Test-only.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { Ajv, type ValidateFunction } from "ajv";

export interface Route {
  method: string;
  template: string;
  operationId: string;
  /** "pre" = Pre-boot only, "post" = Post-boot only, per the operation's summary. */
  phase: "pre" | "post" | "any";
  pathParams: string[];
  body?: { definition: string; required: boolean; validate: ValidateFunction };
  /** Validator of the 200 reply, when the operation has one (the stand-in checks its own answers). */
  ok?: ValidateFunction;
  match(path: string): Record<string, string> | null;
}

export interface FirecrackerApiSpec {
  version: string;
  routes: Route[];
  /** The route for `method path`, with its path parameters, or null. */
  find(method: string, path: string): { route: Route; params: Record<string, string> } | null;
}

type Json = Record<string, unknown>;

// Phase rules stated outside the summaries: putBalloon's description ("This will fail after
// machine startup"); patchVm in snapshot-support.md ("Pause, Resume ... only after booting").
const PHASE_FROM_DOCS: Record<string, Route["phase"]> = { putBalloon: "pre", patchVm: "post" };

export function loadFirecrackerApiSpec(yamlPath: string): FirecrackerApiSpec {
  const doc = parseYaml(readFileSync(yamlPath, "utf8")) as { info: { version: string }; paths: Record<string, Record<string, Json>>; definitions: Record<string, Json> };
  const ajv = new Ajv({ allErrors: false, strict: true });
  ajv.addSchema({ $id: "fc", definitions: convertDefinitions(doc.definitions) });
  const refValidator = (ref: string): ValidateFunction => ajv.compile({ $ref: `fc${ref}` });

  const routes: Route[] = [];
  for (const [template, methods] of Object.entries(doc.paths)) {
    const names: string[] = [];
    const pattern = new RegExp(
      "^" +
        template.replace(/\{([^}]+)\}|[^{]+/g, (m, name?: string) => {
          if (name === undefined) return m.replace(/[.*+?^$()|[\]\\]/g, "\\$&");
          names.push(name);
          return "([^/]+)";
        }) +
        "$",
    );
    for (const [method, op] of Object.entries(methods)) {
      const params = (op.parameters ?? []) as Json[];
      const bodyParam = params.find((p) => p.in === "body");
      const summary = typeof op.summary === "string" ? op.summary : "";
      const phase = /Pre-boot only/.test(summary) ? "pre" : /Post-boot only/.test(summary) ? "post" : (PHASE_FROM_DOCS[String(op.operationId)] ?? "any");
      const okSchema = ((op.responses as Json | undefined)?.["200"] as Json | undefined)?.schema as Json | undefined;
      const bodyRef = (bodyParam?.schema as Json | undefined)?.$ref as string | undefined;
      routes.push({
        method: method.toUpperCase(),
        template,
        operationId: String(op.operationId),
        phase,
        pathParams: params.filter((p) => p.in === "path").map((p) => String(p.name)),
        ...(bodyRef ? { body: { definition: bodyRef.replace("#/definitions/", ""), required: bodyParam!.required === true, validate: refValidator(bodyRef) } } : {}),
        ...(typeof okSchema?.$ref === "string" ? { ok: refValidator(okSchema.$ref) } : {}),
        match: (path) => {
          const m = pattern.exec(path);
          if (!m) return null;
          return Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
        },
      });
    }
  }
  return {
    version: doc.info.version,
    routes,
    find(method, path) {
      for (const route of routes) {
        if (route.method !== method) continue;
        const params = route.match(path);
        if (params) return { route, params };
      }
      return null;
    },
  };
}

function convertDefinitions(defs: Record<string, Json>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(defs).map(([name, schema]) => [name, convertSchema(schema)]));
}

/**
 * Swagger 2.0 schema -> JSON Schema draft-07: `#/definitions/X` refs point into the "fc" schema;
 * documentation-only keywords go; Swagger formats become range checks (int32) or are dropped
 * (int64 and the descriptive regex-like formats); objects reject unknown fields, as Firecracker's
 * deserializer does (serde `deny_unknown_fields`) unless the spec allows extra properties.
 */
export function convertSchema(node: Json): Json {
  if (typeof node.$ref === "string") return { $ref: `fc${node.$ref}` };
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === "description" || k === "example" || k === "readOnly" || k === "format") continue;
    if (k === "properties") out.properties = Object.fromEntries(Object.entries(v as Record<string, Json>).map(([p, s]) => [p, convertSchema(s)]));
    else if (k === "items" || (k === "additionalProperties" && typeof v === "object")) out[k] = convertSchema(v as Json);
    else out[k] = v;
  }
  if (node.format === "int32") {
    out.minimum ??= -(2 ** 31);
    out.maximum ??= 2 ** 31 - 1;
  }
  if (out.type === "object" && out.properties !== undefined && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

/** One line naming the first schema violation, e.g. `/vcpu_count must be <= 32`. */
export function describeViolation(v: ValidateFunction): string {
  const e = v.errors?.[0];
  if (!e) return "invalid";
  const where = e.instancePath || "(body)";
  if (e.keyword === "additionalProperties") return `${where}: unknown field \`${String((e.params as { additionalProperty: string }).additionalProperty)}\``;
  if (e.keyword === "required") return `${where}: missing field \`${String((e.params as { missingProperty: string }).missingProperty)}\``;
  return `${where} ${e.message ?? "is invalid"}`;
}
