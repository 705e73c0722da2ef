// `walk image …`: pull, ls, inspect, rm, prune.
import { Command } from "commander";
import { WalkError } from "../../lib/index.js";
import type { WalkClient } from "../client.js";
import { followJob } from "../jobs.js";
import type { AppDiskResultWire } from "../../api/schemas.js";
import { ago, humanSize, printJson, printTable, shortDigest } from "../output.js";
import { ProgressView } from "../progress.js";
import { credentialsForPull } from "./credentials.js";

export function imageCommands(client: () => WalkClient): Command {
  const image = new Command("image").description("Manage images");

  image
    .command("pull")
    .description("Pull an image from a registry, an OCI layout (oci:PATH[:TAG]) or a docker save tarball (docker-archive:PATH)")
    .argument("<ref>", "image reference")
    .option("--platform <os/arch[/variant]>", "platform to pull from a multi-platform image (default: the host's)")
    .option("--json", "print the result as JSON")
    .option("-q, --quiet", "print only the digest")
    .action(async (ref: string, o: { platform?: string; json?: boolean; quiet?: boolean }) => {
      const c = client();
      const auth = await credentialsForPull(ref);
      const job = await c.pull({ reference: ref, ...(o.platform ? { platform: o.platform } : {}), ...(auth ? { auth } : {}) });
      const view = o.json || o.quiet ? undefined : new ProgressView(process.stderr);
      const result = (await followJob(c, job.id, (e) => view?.update(e))) as { digest: string; reference: string };
      view?.finish();
      if (o.json) printJson(result);
      else if (o.quiet) process.stdout.write(`${result.digest}\n`);
      else process.stdout.write(`${result.reference}\nDigest: ${result.digest}\n`);
    });

  image
    .command("build")
    .description("Build (or find) the app disk for a pulled image and runtime config; prints its path and id")
    .argument("<ref>", "image reference or digest (pulled already)")
    .argument("[cmd...]", "replaces the image's Cmd (put it after --)")
    .option("--entrypoint <entrypoint>", 'replaces the Entrypoint (and clears Cmd): a program, or a JSON array like \'["/bin/sh","-c"]\'')
    .option("--cmd <cmd>", "replaces the Cmd: a JSON array, or one argument")
    .option("-e, --env <KEY=VALUE>", "sets an environment variable (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("-w, --workdir <dir>", "directory the workload starts in")
    .option("-u, --user <user[:group]>", "user the workload runs as (name or number)")
    .option("--json", "print JSON")
    .action(async (ref: string, cmdArgs: string[], o: { entrypoint?: string; cmd?: string; env: string[]; workdir?: string; user?: string; json?: boolean }) => {
      if (o.cmd !== undefined && cmdArgs.length > 0) throw new WalkError("invalid_argument", "give the command either with --cmd or after --, not both");
      const c = client();
      const job = await c.build({
        reference: ref,
        ...(o.entrypoint !== undefined ? { entrypoint: argList("--entrypoint", o.entrypoint) } : {}),
        ...(o.cmd !== undefined ? { cmd: argList("--cmd", o.cmd) } : cmdArgs.length > 0 ? { cmd: cmdArgs } : {}),
        ...(o.env.length > 0 ? { env: o.env } : {}),
        ...(o.workdir !== undefined ? { workdir: o.workdir } : {}),
        ...(o.user !== undefined ? { user: o.user } : {}),
      });
      const plain = !o.json && !process.stderr.isTTY;
      let lastLayer = -1;
      const disk = (await followJob(c, job.id, (e) => {
        if (o.json || e.type !== "build") return;
        if (e.phase === "flatten" && e.layer !== lastLayer) {
          lastLayer = e.layer as number;
          process.stderr.write(`${plain ? "" : "\r"}converting layer ${lastLayer + 1}/${String(e.layers)} ${shortDigest(String(e.digest))}${plain ? "\n" : ""}`);
        }
      })) as AppDiskResultWire;
      if (lastLayer >= 0 && !plain && !o.json) process.stderr.write("\n");
      if (o.json) return printJson(disk);
      process.stdout.write(`${disk.path}\nID: ${disk.id}\n`);
    });

  image
    .command("ls")
    .alias("list")
    .description("List images and their app disks")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const images = await client().images();
      if (o.json) return printJson(images);
      printTable(
        ["REFERENCE", "DIGEST", "PLATFORM", "SIZE", "APP DISKS", "CREATED"],
        images.flatMap((i) => {
          const platform = [i.os, i.architecture, i.variant].filter(Boolean).join("/");
          const cells = (ref: string): string[] => [ref, shortDigest(i.digest), platform, humanSize(i.size), String(i.app_disks.length), ago(i.created_at)];
          return i.tags.length > 0 ? i.tags.map(cells) : [cells(`${i.name}@<untagged>`)];
        }),
      );
    });

  image
    .command("inspect")
    .description("Show an image's config and layers")
    .argument("<ref>", "reference or digest (a unique prefix of the digest is enough)")
    .option("--json", "print JSON")
    .action(async (ref: string, o: { json?: boolean }) => {
      const i = await client().image(ref);
      if (o.json) return printJson(i);
      const c = i.config;
      const show = (v: string[] | null): string => (v === null ? "(none)" : JSON.stringify(v));
      const lines = [
        `Digest:       ${i.digest}`,
        `Name:         ${i.name}`,
        `Tags:         ${i.tags.join(", ") || "(none)"}`,
        `Platform:     ${[i.os, i.architecture, i.variant].filter(Boolean).join("/")}`,
        `Size:         ${humanSize(i.size)}`,
        `Entrypoint:   ${show(c.entrypoint)}`,
        `Cmd:          ${show(c.cmd)}`,
        `WorkingDir:   ${c.workdir || "/"}`,
        `User:         ${c.user || "(root)"}`,
        `ExposedPorts: ${c.exposed_ports.join(", ") || "(none)"}`,
        `Env:`,
        ...c.env.map((e) => `  ${e}`),
        `Layers:`,
        ...i.layers.map((l) => `  ${l.digest}  ${humanSize(l.size)}  ${l.media_type}`),
      ];
      if (i.app_disks.length > 0) lines.push("App disks:", ...i.app_disks.map((d) => `  ${d.path}  ${humanSize(d.size)}`));
      process.stdout.write(lines.join("\n") + "\n");
    });

  image
    .command("rm")
    .alias("remove")
    .description("Remove an image (by digest) or one of its tags")
    .argument("<refs...>", "references or digests")
    .option("--json", "print JSON")
    .action(async (refs: string[], o: { json?: boolean }) => {
      const results = [];
      for (const ref of refs) results.push(await client().removeImage(ref));
      if (o.json) return printJson(results);
      for (const r of results) {
        for (const t of r.untagged) process.stdout.write(`Untagged: ${t}\n`);
        if (r.deleted) process.stdout.write(`Deleted: ${r.deleted}\n`);
      }
    });

  image
    .command("prune")
    .description("Remove blobs and app disks that no image references")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const r = await client().prune();
      if (o.json) return printJson(r);
      process.stdout.write(
        `Removed ${r.removed_blobs.length} blobs and ${r.removed_app_disks.length} app disks, reclaimed ${humanSize(r.reclaimed_bytes)}\n`,
      );
    });

  return image;
}

/** A JSON array of strings, or a single argument. */
function argList(flag: string, value: string): string[] {
  if (!value.trimStart().startsWith("[")) return [value];
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new WalkError("invalid_argument", `${flag} looks like a JSON array but is not valid JSON: ${value}`);
  }
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === "string")) {
    throw new WalkError("invalid_argument", `${flag} must be a JSON array of strings`);
  }
  return parsed;
}
