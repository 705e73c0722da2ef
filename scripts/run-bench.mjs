// Runs the benchmarks: `npm run bench` runs every bench/<name>/run.ts, `npm run bench -- pull build`
// the named ones. Extra flags after `--` and a name go to that benchmark, e.g. `-- pull --runs 5`.
import { existsSync, readdirSync } from "node:fs";
import { spawnSync } from "node:child_process";

const all = readdirSync("bench", { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
const args = process.argv.slice(2);
const named = args.filter((a) => all.includes(a));
const flags = args.filter((a) => !all.includes(a));
const chosen = named.length > 0 ? named : all;
let failed = 0;
for (const name of chosen) {
  const script = `dist/bench/${name}/run.js`;
  if (!existsSync(script)) {
    console.error(`bench ${name}: ${script} is missing; run npm run build`);
    failed++;
    continue;
  }
  console.log(`\n=== bench/${name}`);
  const r = spawnSync(process.execPath, [script, ...(named.length === 1 ? flags : [])], { stdio: "inherit" });
  if (r.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
