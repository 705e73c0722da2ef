// `walk base …`: build, import, ls and default for guest bases (kernel + walk-init rootfs).
import { Command } from "commander";
import { resolve } from "node:path";
import type { WalkClient } from "../client.js";
import { followJob } from "../jobs.js";
import { humanSize, printJson, printTable } from "../output.js";
import type { BaseWire } from "../../api/schemas.js";

export function baseCommands(client: () => WalkClient): Command {
  const base = new Command("base").description("Manage guest bases: the kernel and the rootfs holding walk's init");

  base
    .command("build")
    .description("Build a base from Debian packages (linux-source-6.1, musl); each part is cached by content")
    .option("--install-packages", "install missing Debian build packages with apt-get")
    .option("--default", "make it the default base")
    .option("--json", "print JSON")
    .action(async (o: { installPackages?: boolean; default?: boolean; json?: boolean }) => {
      const c = client();
      const job = await c.buildBase({ install_packages: o.installPackages ?? false, make_default: o.default ?? false });
      const result = (await followJob(c, job.id, (e) => {
        if (!o.json && e.type === "log") process.stderr.write(`${String(e.line)}\n`);
      })) as BaseWire;
      if (o.json) printJson(result);
      else process.stdout.write(`Built base ${result.version}${result.default ? " (default)" : ""}\n`);
    });

  base
    .command("import")
    .description("Import your own artifacts, such as a walk.io-base release or a distro kernel")
    .requiredOption("--kernel <path>", "vmlinux (what Firecracker loads) or bzImage")
    .option("--rootfs <path>", "base rootfs ext4 holding /sbin/walk-init (default: built from this walk's init)")
    .option("--firecracker <path>", "a firecracker binary to keep with this base")
    .option("--default", "make it the default base")
    .option("--json", "print JSON")
    .action(async (o: { kernel: string; rootfs?: string; firecracker?: string; default?: boolean; json?: boolean }) => {
      const result = await client().importBase({
        kernel: resolve(o.kernel),
        ...(o.rootfs !== undefined ? { rootfs: resolve(o.rootfs) } : {}),
        ...(o.firecracker !== undefined ? { firecracker: resolve(o.firecracker) } : {}),
        make_default: o.default ?? false,
      });
      if (o.json) printJson(result);
      else process.stdout.write(`Imported base ${result.version}${result.default ? " (default)" : ""}\n`);
    });

  base
    .command("ls")
    .alias("list")
    .description("List installed bases; the default is marked")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const bases = await client().bases();
      if (o.json) return printJson(bases);
      printTable(
        ["VERSION", "DEFAULT", "ORIGIN", "KERNEL", "FILES", "CREATED"],
        bases.map((b) => [
          b.version,
          b.default ? "*" : "",
          b.origin ?? "?",
          b.kernel_source ?? "-",
          Object.entries(b.files)
            .map(([n, f]) => `${n} ${humanSize(f.size)}`)
            .join(", "),
          b.problem ? `unusable: ${b.problem}` : (b.created_at ?? ""),
        ]),
      );
    });

  base
    .command("default")
    .description("Make a base the default")
    .argument("<version>", "as shown by walk base ls")
    .action(async (version: string) => {
      const b = await client().setDefaultBase(version);
      process.stdout.write(`Default base: ${b.version}\n`);
    });

  return base;
}
