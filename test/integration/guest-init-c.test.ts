// walk-init's C unit tests and its decoder against the contract's golden files, built and run on
// the host: the same decoder the guest runs must produce exactly NAME.json from NAME.argv and
// NAME.env, and refuse every bad-* file with its reason.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "../../src/lib/exec.js";

const repo = process.cwd();
const initDir = join(repo, "guest/init");
const golden = join(repo, "test/golden/contract");
const env = { ...process.env, ASAN_OPTIONS: "detect_leaks=0" };
let out: string;

before(async () => {
  out = await mkdtemp(join(tmpdir(), "walk-init-c-"));
});
after(async () => {
  await rm(out, { recursive: true, force: true });
});

async function decode(kind: "argv" | "env", file: string) {
  return execFile(join(out, "decode-tool"), [kind, join(golden, file)], { env, timeoutMs: 30_000 });
}

describe("walk-init C code on the host", { timeout: 5 * 60_000 }, () => {
  test("unit tests pass (parameters, user lookup, contract limits)", async () => {
    const r = await execFile("make", ["-s", "-C", initDir, `OUT=${out}`, "test"], { env, timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\d+ checks, 0 failed/);
  });

  test("the static guest binary builds with musl and stays small", async () => {
    const r = await execFile("make", ["-s", "-C", initDir, `OUT=${out}`], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const st = await stat(join(out, "walk-init"));
    assert.ok(st.size < 256 * 1024, `walk-init is ${st.size} bytes`);
    const file = await execFile("file", [join(out, "walk-init")]);
    if (file.code === 0) assert.match(file.stdout, /statically linked/);
  });

  test("decodes every golden pair to its JSON", async () => {
    const r = await execFile("make", ["-s", "-C", initDir, `OUT=${out}`, "decode-tool"], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const names = (await readdir(golden)).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5));
    assert.ok(names.length >= 3, "golden pairs exist");
    for (const name of names) {
      const want = JSON.parse(await readFile(join(golden, `${name}.json`), "utf8")) as Record<string, unknown>;
      const a = await decode("argv", `${name}.argv`);
      const e = await decode("env", `${name}.env`);
      assert.equal(a.code, 0, `${name}.argv: ${a.stderr}`);
      assert.equal(e.code, 0, `${name}.env: ${e.stderr}`);
      const got = { ...(JSON.parse(a.stdout) as object), ...(JSON.parse(e.stdout) as object) };
      assert.deepEqual(got, want, name);
    }
  });

  test("refuses every bad golden file with its reason", async () => {
    const cases: Array<[string, "argv" | "env", RegExp]> = [
      ["bad-empty-argv0.argv", "argv", /argv\[0\] is missing or empty/],
      ["bad-magic.argv", "argv", /does not start with the field "walk-argv-v1"/],
      ["bad-unterminated.argv", "argv", /does not end with a NUL byte/],
      ["bad-key.env", "env", /entry 1 is not KEY=VALUE with a non-empty KEY/],
    ];
    const bad = (await readdir(golden)).filter((f) => f.startsWith("bad-"));
    assert.deepEqual(bad.sort(), cases.map((c) => c[0]).sort(), "every bad-* golden file has a case here");
    for (const [file, kind, why] of cases) {
      const r = await decode(kind, file);
      assert.equal(r.code, 1, file);
      assert.match(r.stderr, why, file);
    }
  });
});
