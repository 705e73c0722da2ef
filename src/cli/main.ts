#!/usr/bin/env node
// `walk`: the command-line client. It talks only to walkd's API (see client.ts).
import { Command } from "commander";
import { readFileSync } from "node:fs";
import { WALK_VERSION, isWalkError } from "../lib/index.js";
import { DEFAULT_SOCKET, WalkClient, parseEndpoint } from "./client.js";
import { imageCommands } from "./commands/image.js";
import { loginCommand } from "./commands/login.js";
import { baseCommands } from "./commands/base.js";
import { doctorCommand } from "./commands/doctor.js";
import { machineCommands } from "./commands/machine.js";
import { appCommands } from "./commands/apps.js";

function clientFrom(opts: { host?: string; tokenFile?: string }): WalkClient {
  const spec = opts.host ?? process.env.WALK_HOST ?? `unix://${DEFAULT_SOCKET}`;
  const token = opts.tokenFile ? readFileSync(opts.tokenFile, "utf8").trim() : process.env.WALK_TOKEN;
  return new WalkClient(parseEndpoint(spec, token));
}

const program = new Command("walk")
  .description("Run OCI images as microVMs (talks to walkd)")
  .version(WALK_VERSION, "-v, --version")
  .option("-H, --host <endpoint>", `walkd to talk to: unix:///PATH or tcp://HOST:PORT (env WALK_HOST; default unix://${DEFAULT_SOCKET})`)
  .option("--token-file <file>", "bearer token for a TCP endpoint (env WALK_TOKEN)")
  .showHelpAfterError();

const client = (): WalkClient => clientFrom(program.opts<{ host?: string; tokenFile?: string }>());

program
  .command("version")
  .description("Show the client's and the daemon's versions")
  .option("--json", "print JSON")
  .action(async (o: { json?: boolean }) => {
    const server = await client().version();
    if (o.json) process.stdout.write(JSON.stringify({ client: WALK_VERSION, server }, null, 2) + "\n");
    else process.stdout.write(`client: ${WALK_VERSION}\nwalkd:  ${server.version} (API ${server.api_version})\n`);
  });

program.addCommand(imageCommands(client));
program.addCommand(loginCommand(client));
program.addCommand(baseCommands(client));
program.addCommand(doctorCommand(client));
for (const c of machineCommands(client)) program.addCommand(c);
for (const c of appCommands(client)) program.addCommand(c);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const message = isWalkError(err) ? err.message : err instanceof Error ? err.message : String(err);
  process.stderr.write(`walk: ${message}\n`);
  process.exitCode = 1;
}
