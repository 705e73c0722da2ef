// `walk deploy [-f walk.toml]` and `walk apps ls|inspect|rm|logs|metrics`: the app commands. They only
// read the file and call the API; walkd validates walk.toml and rolls it out onto the machines.
import { Command } from "commander";
import { readFile } from "node:fs/promises";
import { WalkError } from "../../lib/index.js";
import { MAX_WALK_TOML_BYTES } from "../../apps/config.js";
import type { AppWire } from "../../api/app-schemas.js";
import type { WalkClient } from "../client.js";
import { ago, printJson, printTable } from "../output.js";
import { metricsCommand } from "./app-metrics.js";

/** Machines running out of the app's max_machines, e.g. `1/3`. */
function machinesText(a: AppWire): string {
  return `${a.machines.filter((m) => m.state === "started" || m.state === "starting").length}/${a.max_machines}`;
}

function routesText(a: AppWire): string {
  if (a.unserved !== null) return `NOT SERVED: ${a.unserved}`;
  return a.services
    .flatMap((s, i) => [`${i === 0 ? a.name : `${a.name}-${i}`}.localhost`, ...s.hostnames, ...(s.host_port !== null ? [`:${s.host_port}`] : [])].map((h) => `${h}->${s.internal_port}`))
    .join(", ");
}

async function readWalkToml(file: string): Promise<string> {
  const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    throw new WalkError(err.code === "ENOENT" ? "not_found" : "invalid_argument", `cannot read ${file}: ${err.message}`);
  });
  if (Buffer.byteLength(text) > MAX_WALK_TOML_BYTES) throw new WalkError("invalid_argument", `${file}: is larger than ${MAX_WALK_TOML_BYTES} bytes`);
  return text;
}

function parseSlot(v: string): number {
  if (!/^\d{1,2}$/.test(v)) throw new WalkError("invalid_argument", `--machine must be a slot number (0, 1, ...), got ${JSON.stringify(v)}`);
  return Number(v);
}

export function appCommands(client: () => WalkClient): Command[] {
  const deploy = new Command("deploy")
    .description("Create or update the app a walk.toml declares, and roll it onto its machines")
    .option("-f, --file <walk.toml>", "the app's file", "walk.toml")
    .option("--json", "print JSON")
    .action(async (o: { file: string; json?: boolean }) => {
      const res = await client().deploy({ config: await readWalkToml(o.file), file: o.file });
      if (o.json) return printJson(res);
      const what = { recorded: "recorded; the next request wakes it", replaced: "the running machines were replaced", started: "min_machines machines were started" }[res.rollout];
      process.stdout.write(`deployed ${res.app.name} (generation ${res.app.generation}): ${what}\n`);
    });

  const apps = new Command("apps").description("Manage apps (see `walk deploy`)");
  apps
    .command("ls")
    .description("List apps")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const list = await client().apps();
      if (o.json) return printJson(list);
      printTable(
        ["NAME", "IMAGE", "GENERATION", "MACHINES", "ROUTES", "UPDATED"],
        list.map((a) => [a.name, a.image, String(a.generation), machinesText(a), routesText(a), ago(a.updated_at)]),
      );
    });
  apps
    .command("inspect")
    .description("Show an app as JSON (with its machines: slot, id, name, state, generation)")
    .argument("<app>", "the app's name")
    .action(async (name: string) => printJson(await client().app(name)));
  apps
    .command("rm")
    .description("Remove apps: their routes, machines and record")
    .argument("<apps...>", "names")
    .option("--json", "print JSON")
    .action(async (names: string[], o: { json?: boolean }) => {
      for (const name of names) {
        const a = await client().removeApp(name);
        if (o.json) printJson(a);
        else process.stdout.write(`${a.name}\n`);
      }
    });
  apps
    .command("logs")
    .description("Show the console output of the app's machines (each line prefixed with the machine's name when there are several)")
    .argument("<app>", "the app's name")
    .option("-f, --follow", "keep streaming while the machines run")
    .option("-m, --machine <slot>", "only the machine of this slot (see `walk apps inspect`)", parseSlot)
    .action(async (name: string, o: { follow?: boolean; machine?: number }) => {
      for await (const chunk of client().appLogs(name, { follow: o.follow === true, ...(o.machine !== undefined ? { machine: o.machine } : {}) })) process.stdout.write(chunk);
    });
  apps.addCommand(metricsCommand(client));
  return [deploy, apps];
}
