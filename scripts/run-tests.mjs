// Runs every compiled test file under dist/ with node:test. Node 20's --test does not take globs,
// so the files are listed here; WALK_TEST_FILTER narrows the run to paths containing a substring.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith(".test.js")) out.push(p);
  }
  return out;
}

const filter = process.env.WALK_TEST_FILTER ?? "";
const files = collect("dist", []).filter((f) => f.includes(filter)).sort();
if (files.length === 0) {
  console.error(`no test files match ${JSON.stringify(filter)}`);
  process.exit(1);
}
const args = ["--test", "--test-reporter=spec", `--test-concurrency=${process.env.WALK_TEST_CONCURRENCY ?? "2"}`, ...files];
const r = spawnSync(process.execPath, args, { stdio: "inherit" });
process.exit(r.status ?? 1);
