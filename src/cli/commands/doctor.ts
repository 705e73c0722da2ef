// `walk doctor`: prints walkd's host report, every problem with its fix; exits 1 when machines
// cannot run.
import { Command } from "commander";
import type { WalkClient } from "../client.js";
import { printJson } from "../output.js";

export function doctorCommand(client: () => WalkClient): Command {
  return new Command("doctor")
    .description("Check the host: which backend walk uses and why, KVM, Firecracker, QEMU, the guest base, tools")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const r = await client().doctor();
      if (o.json) printJson(r);
      else {
        const lines = [`Backend: ${r.backend ?? "none"}`, ...r.reasons.map((x) => `  - ${x}`), ""];
        for (const c of r.checks) {
          lines.push(`${{ ok: "ok  ", warn: "warn", fail: "FAIL" }[c.status]}  ${c.name.padEnd(16)} ${c.detail}`);
          if (c.fix) lines.push(`      ${"".padEnd(16)} fix: ${c.fix}`);
        }
        lines.push("", r.ok ? "walk can run machines on this host." : "walk cannot run machines on this host until the problems above are fixed.");
        process.stdout.write(lines.join("\n") + "\n");
      }
      if (!r.ok) process.exitCode = 1;
    });
}
