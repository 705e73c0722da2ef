// `node dist/src/api/openapi-cli.js [--check]`: writes docs/openapi.json, or with --check fails
// when the committed document differs from what the code generates.
import { readFileSync, writeFileSync } from "node:fs";
import { generateOpenApi } from "./openapi.js";
import { WALK_VERSION } from "../lib/version.js";

const target = "docs/openapi.json";
const text = JSON.stringify(await generateOpenApi(WALK_VERSION), null, 2) + "\n";
if (process.argv.includes("--check")) {
  let committed = "";
  try {
    committed = readFileSync(target, "utf8");
  } catch {
    // a missing document is drift too
  }
  if (committed !== text) {
    console.error(`${target} is out of date with the route schemas; run: npm run openapi`);
    process.exit(1);
  }
  console.log(`${target} is up to date`);
} else {
  writeFileSync(target, text);
  console.log(`wrote ${target}`);
}
