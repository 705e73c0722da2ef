// `walk login REGISTRY`: stores credentials in the docker config file (~/.docker/config.json, or
// DOCKER_CONFIG), through its credsStore or credHelpers when it has them, like `docker login`.
import { Command } from "commander";
import { WalkError } from "../../lib/index.js";
import { readBounded } from "../../lib/bounded.js";
import { parseRegistryReference } from "../../oci/reference.js";
import type { WalkClient } from "../client.js";
import { defaultDockerConfigPath, eraseCredentials, storeCredentials } from "../../oci/registry/credentials.js";

async function readPasswordFromStdin(): Promise<string> {
  const text = (await readBounded(process.stdin, 65536, "the password on standard input")).toString("utf8");
  return text.replace(/\r?\n$/, "");
}

/** The canonical registry name for what the user typed: "ghcr.io", "localhost:5000", "docker.io". */
function registryName(input: string): string {
  const host = input.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
  return parseRegistryReference(`${host}/x`).registry;
}

export function loginCommand(client: () => WalkClient): Command {
  const login = new Command("login")
    .description("Check credentials with the registry (through walkd), then save them in the docker config file or its credential helper")
    .argument("[registry]", "registry host, e.g. ghcr.io or localhost:5000", "docker.io")
    .option("-u, --username <user>", "user name")
    .option("--password-stdin", "read the password from standard input")
    .action(async (registry: string, o: { username?: string; passwordStdin?: boolean }) => {
      if (!o.username) throw new WalkError("invalid_argument", "pass the user name with -u USER");
      if (!o.passwordStdin) {
        throw new WalkError("invalid_argument", "pass the password on standard input with --password-stdin (it is never taken as an argument)");
      }
      const password = await readPasswordFromStdin();
      if (password === "") throw new WalkError("invalid_argument", "the password on standard input is empty");
      const name = registryName(registry);
      await client().verifyLogin({ registry: name, username: o.username, password });
      const file = defaultDockerConfigPath();
      await storeCredentials(file, name, { username: o.username, password });
      process.stdout.write(`Login saved for ${name} in ${file}\n`);
    });

  login.addCommand(
    new Command("rm")
      .description("Forget the saved credentials for a registry")
      .argument("[registry]", "registry host", "docker.io")
      .action(async (registry: string) => {
        const name = registryName(registry);
        await eraseCredentials(defaultDockerConfigPath(), name);
        process.stdout.write(`Removed login for ${name}\n`);
      }),
  );
  return login;
}
