// `walk run`, `walk ps`, `walk logs`, `walk start|stop|kill|restart|rm`, `walk inspect`, `walk wait`:
// the machine commands. They only call the API; `run` pulls with progress when the image is
// missing, streams the workload's output and exits with its exit code.
import { Command, Option } from "commander";
import { WalkError, isWalkError } from "../../lib/index.js";
import type { MachineWire } from "../../api/machine-schemas.js";
import { formatPort, parsePortSpecs } from "../../net/index.js";
import type { WalkClient } from "../client.js";
import { followJob } from "../jobs.js";
import { ago, printJson, printTable } from "../output.js";
import { ProgressView } from "../progress.js";
import { credentialsForPull } from "./credentials.js";

const UNITS: Record<string, number> = { k: 1 / 1024, m: 1, g: 1024, t: 1024 * 1024 };

/** `256M`, `1G`, `1.5G`, `512` (MiB) -> MiB. Binary units; the result must be whole MiB. */
export function parseSizeMib(what: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt])?(?:i?b)?$/i.exec(text.trim());
  const mib = m ? Number(m[1]) * UNITS[(m[2] ?? "m").toLowerCase()]! : Number.NaN;
  if (!Number.isFinite(mib) || !Number.isInteger(mib) || mib <= 0) {
    throw new WalkError("invalid_argument", `${what} must be a size in whole MiB such as 256M, 1G or 512 (MiB), got ${JSON.stringify(text)}`);
  }
  return mib;
}

/** Exit status of `walk run`/`walk wait`: the workload's code, 128+signal, or 125 when it never ran. */
export function exitStatusOf(m: MachineWire): number {
  if (m.exit_code !== null) return m.exit_code;
  if (m.exit_signal !== null) return 128 + m.exit_signal;
  return 125;
}

function uptime(m: MachineWire): string {
  if (m.state === "started" && m.started_at) return ago(m.started_at).replace(/ ago$/, "");
  if (m.finished_at) return `exited ${ago(m.finished_at)}`;
  return "-";
}

/** `127.0.0.1:8080->80/tcp, ...` as `walk ps` shows it; `-` without published ports. */
function portsText(m: MachineWire): string {
  const ports = m.net?.ports ?? [];
  return ports.length === 0 ? "-" : ports.map((p) => formatPort({ hostIp: p.host_ip, hostPort: p.host_port, guestPort: p.guest_port, protocol: p.protocol })).join(", ");
}

function networkLines(m: MachineWire): string[] {
  if (!m.net) return [`Network:    ${m.network}`];
  const n = m.net;
  return [
    `Network:    ${m.network}: ${n.ip}/${n.prefix} via ${n.gateway}, MTU ${n.mtu}, DNS ${n.dns.join(", ") || "-"}`,
    `Interface:  tap ${n.tap}, MAC ${n.mac}`,
    `Ports:      ${portsText(m)}`,
  ];
}

function list(v: string, acc: string[]): string[] {
  return [...acc, v];
}

async function ensurePulled(c: WalkClient, ref: string, quiet: boolean): Promise<void> {
  try {
    await c.image(ref);
    return;
  } catch (err) {
    if (!isWalkError(err, "not_found") || /^(sha256:)?[0-9a-f]{4,64}$/.test(ref)) throw err;
  }
  const auth = await credentialsForPull(ref);
  const job = await c.pull({ reference: ref, ...(auth ? { auth } : {}) });
  const view = quiet ? undefined : new ProgressView(process.stderr);
  await followJob(c, job.id, (e) => view?.update(e));
  view?.finish();
}

async function streamLogs(c: WalkClient, ref: string, opts: { follow?: boolean; since?: string }): Promise<void> {
  for await (const chunk of c.machineLogs(ref, opts)) {
    if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once("drain", r));
  }
}

export function machineCommands(client: () => WalkClient): Command[] {
  const run = new Command("run")
    .description("Run an image as a microVM: pull and build if needed, boot, stream its output, exit with its exit code")
    .argument("<image>", "image reference or digest")
    .argument("[args...]", "replaces the image's Cmd (put it after --)")
    .option("-e, --env <KEY=VALUE>", "set an environment variable (repeatable)", list, [] as string[])
    .option("--entrypoint <program>", "replace the image's Entrypoint (and clear its Cmd)")
    .option("-w, --workdir <dir>", "directory the workload starts in")
    .option("-u, --user <user[:group]>", "user the workload runs as")
    .option("--cpus <n>", "vCPUs (default 1)")
    .option("-m, --memory <size>", "guest memory, e.g. 256M or 1G (default 256M)")
    .option("--disk <size>", "state disk size, e.g. 1G (default 1G, sparse)")
    .option("--name <name>", "machine name, a DNS label (default <image>-<4 hex>)")
    .addOption(new Option("--restart <policy>", "restart policy: no, on-failure[:N] or always").default("no"))
    .addOption(new Option("--net <mode>", "network mode: default (a tap, a private address, NAT out) or none (no NIC)").choices(["default", "none"]))
    .option("-p, --publish <[hostip:]hostport:guestport[/tcp|/udp]>", "publish a guest port on the host (repeatable; host address defaults to loopback)", list, [] as string[])
    .option("-d, --detach", "start it in the background and print the machine id")
    .action(async (image: string, args: string[], o: { env: string[]; entrypoint?: string; workdir?: string; user?: string; cpus?: string; memory?: string; disk?: string; name?: string; restart: string; net?: "default" | "none"; publish: string[]; detach?: boolean }) => {
      const c = client();
      // Syntax only, before a pull: the daemon applies the operator's policy (address, privileged ports).
      parsePortSpecs(o.publish, { defaultAddress: "127.0.0.1", allowPrivileged: true });
      if (o.net === "none" && o.publish.length > 0) throw new WalkError("invalid_argument", "--net none and -p exclude each other: a machine without a network publishes no ports");
      await ensurePulled(c, image, o.detach === true);
      const cpus = o.cpus === undefined ? undefined : Number(o.cpus);
      if (cpus !== undefined && !Number.isInteger(cpus)) throw new WalkError("invalid_argument", `--cpus must be a whole number, got ${JSON.stringify(o.cpus)}`);
      const m = await c.createMachine({
        image,
        start: true,
        restart: o.restart,
        ...(o.net !== undefined ? { network: o.net } : {}),
        ...(o.publish.length > 0 ? { ports: o.publish } : {}),
        ...(o.name !== undefined ? { name: o.name } : {}),
        ...(o.entrypoint !== undefined ? { entrypoint: [o.entrypoint] } : {}),
        ...(args.length > 0 ? { cmd: args } : {}),
        ...(o.env.length > 0 ? { env: o.env } : {}),
        ...(o.workdir !== undefined ? { workdir: o.workdir } : {}),
        ...(o.user !== undefined ? { user: o.user } : {}),
        ...(cpus !== undefined ? { cpus } : {}),
        ...(o.memory !== undefined ? { memory_mib: parseSizeMib("--memory", o.memory) } : {}),
        ...(o.disk !== undefined ? { disk_mib: parseSizeMib("--disk", o.disk) } : {}),
      });
      if (m.state === "failed" && m.last_error?.startsWith("start failed:")) {
        process.stderr.write(`walk: machine ${m.name} (${m.id.slice(0, 12)}) failed to start: ${m.last_error ?? "unknown error"}\n`);
        process.exitCode = 125;
        return;
      }
      if (o.detach) {
        process.stdout.write(`${m.id}\n`);
        return;
      }
      let interrupts = 0;
      const onSigint = (): void => {
        interrupts++;
        const action = interrupts === 1 ? "stop" : "kill";
        process.stderr.write(interrupts === 1 ? `\nwalk: stopping ${m.name} (Ctrl-C again to kill it)\n` : `\nwalk: killing ${m.name}\n`);
        c.machineAction(m.id, action).catch((err: unknown) => process.stderr.write(`walk: ${action} failed: ${(err as Error).message}\n`));
      };
      process.on("SIGINT", onSigint);
      try {
        await streamLogs(c, m.id, { follow: true });
        const end = await c.waitMachine(m.id, { timeoutS: 60 });
        if (end.state === "failed" && end.last_error) process.stderr.write(`walk: machine ${end.name}: ${end.last_error}\n`);
        process.exitCode = exitStatusOf(end);
      } finally {
        process.off("SIGINT", onSigint);
      }
    });

  const ps = new Command("ps")
    .description("List machines (running ones; -a for all)")
    .option("-a, --all", "include machines that are not running")
    .option("--json", "print JSON")
    .action(async (o: { all?: boolean; json?: boolean }) => {
      const ms = await client().machines(o.all === true);
      if (o.json) return printJson(ms);
      // The PORTS column appears when a listed machine publishes ports, as the rest stays narrow.
      const withPorts = ms.some((m) => (m.net?.ports.length ?? 0) > 0);
      printTable(
        ["ID", "NAME", "IMAGE", "STATE", "UPTIME", "EXIT", ...(withPorts ? ["PORTS"] : []), "BACKEND"],
        ms.map((m) => [
          m.id.slice(0, 12),
          m.name,
          m.image.reference,
          m.restart.pending_at ? `${m.state} (restarting)` : m.state,
          uptime(m),
          m.exit_code !== null ? String(m.exit_code) : m.exit_signal !== null ? `signal ${m.exit_signal}` : "-",
          ...(withPorts ? [portsText(m)] : []),
          m.backend,
        ]),
      );
    });

  const logs = new Command("logs")
    .description("Show a machine's console output (the workload's stdout and stderr)")
    .argument("<machine>", "id, id prefix or name")
    .option("-f, --follow", "keep streaming while the machine runs")
    .option("--since <time>", "only output since an RFC 3339 time or a duration ago (30s, 5m, 2h)")
    .action(async (ref: string, o: { follow?: boolean; since?: string }) => {
      await streamLogs(client(), ref, { ...(o.follow ? { follow: true } : {}), ...(o.since !== undefined ? { since: o.since } : {}) });
    });

  const simple = (name: "start" | "kill", description: string): Command =>
    new Command(name)
      .description(description)
      .argument("<machines...>", "ids, id prefixes or names")
      .action(async (refs: string[]) => {
        for (const ref of refs) process.stdout.write(`${(await client().machineAction(ref, name)).name}\n`);
      });

  const timed = (name: "stop" | "restart", description: string): Command =>
    new Command(name)
      .description(description)
      .argument("<machines...>", "ids, id prefixes or names")
      .option("-t, --timeout <seconds>", "seconds to wait for a graceful stop before killing (default 10)")
      .action(async (refs: string[], o: { timeout?: string }) => {
        const t = o.timeout === undefined ? undefined : Number(o.timeout);
        if (t !== undefined && (!Number.isInteger(t) || t < 0)) throw new WalkError("invalid_argument", `--timeout must be a whole number of seconds, got ${JSON.stringify(o.timeout)}`);
        for (const ref of refs) process.stdout.write(`${(await client().machineAction(ref, name, t)).name}\n`);
      });

  const rm = new Command("rm")
    .description("Remove machines with their state disks and logs")
    .argument("<machines...>", "ids, id prefixes or names")
    .option("-f, --force", "kill a running machine first")
    .action(async (refs: string[], o: { force?: boolean }) => {
      for (const ref of refs) process.stdout.write(`${(await client().removeMachine(ref, o.force === true)).name}\n`);
    });

  const inspect = new Command("inspect")
    .description("Show a machine's record")
    .argument("<machine>", "id, id prefix or name")
    .option("--json", "print JSON")
    .action(async (ref: string, o: { json?: boolean }) => {
      const m = await client().machine(ref);
      if (o.json) return printJson(m);
      const lines = [
        `ID:         ${m.id}`,
        `Name:       ${m.name}`,
        `State:      ${m.state}${m.restart.pending_at ? ` (restart at ${m.restart.pending_at})` : ""}`,
        `Image:      ${m.image.reference} (${m.image.digest})`,
        `Backend:    ${m.backend}${m.vm ? ` (pid ${m.vm.pid})` : ""}`,
        `Resources:  ${m.cpus} vCPU, ${m.memory_mib} MiB memory, ${m.disk_mib} MiB state disk`,
        ...networkLines(m),
        `Restart:    ${m.restart.policy} (${m.restart.count} automatic restarts)`,
        `Exit:       ${m.exit_code !== null ? `code ${m.exit_code}` : m.exit_signal !== null ? `signal ${m.exit_signal}` : "-"}`,
        `Created:    ${m.created_at}`,
        `Started:    ${m.started_at ?? "-"}`,
        `Finished:   ${m.finished_at ?? "-"}`,
        `Console:    ${m.paths.console_log}`,
      ];
      if (m.last_error) lines.push(`Last error: ${m.last_error}`);
      process.stdout.write(lines.join("\n") + "\n");
    });

  const wait = new Command("wait")
    .description("Wait until a machine reaches a state (default: exited); prints and exits with its exit code")
    .argument("<machine>", "id, id prefix or name")
    .option("--state <state>", "created, starting, started, stopping, stopped, failed, destroyed or exited")
    .option("--timeout <seconds>", "give up after this many seconds (default 300)")
    .action(async (ref: string, o: { state?: string; timeout?: string }) => {
      const t = o.timeout === undefined ? undefined : Number(o.timeout);
      if (t !== undefined && (!Number.isInteger(t) || t < 0)) throw new WalkError("invalid_argument", `--timeout must be a whole number of seconds, got ${JSON.stringify(o.timeout)}`);
      const m = await client().waitMachine(ref, { ...(o.state ? { state: o.state } : {}), ...(t !== undefined ? { timeoutS: t } : {}) });
      if (o.state && o.state !== "exited") {
        process.stdout.write(`${m.state}\n`);
        return;
      }
      const status = exitStatusOf(m);
      process.stdout.write(`${status}\n`);
      process.exitCode = status;
    });

  return [run, ps, logs, simple("start", "Start machines"), timed("stop", "Stop machines gracefully (killing after the timeout)"), simple("kill", "Kill machines' VMs at once"), timed("restart", "Stop and start machines"), rm, inspect, wait];
}
