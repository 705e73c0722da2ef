// The runtime config encoder against the contract's golden files, and every rejected input.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { ImageConfig } from "../oci/types.js";
import { isWalkError } from "../lib/errors.js";
import { configIdOf, encodeRuntimeConfig, resolveRuntimeConfig, type RunOverrides } from "./runconfig.js";

const golden = new URL("../../../test/golden/contract/", import.meta.url);
const read = (name: string): Buffer => readFileSync(new URL(name, golden));

interface GoldenJson {
  argv_b64: string[];
  env_b64: Array<[string, string]>;
  workdir_b64: string;
  user_b64: string;
}

const b = (s: string): Buffer => Buffer.from(s, "base64");

const cases: Record<string, { image: ImageConfig["config"]; overrides?: RunOverrides }> = {
  simple: { image: { Entrypoint: ["/bin/echo"], Cmd: ["hello"], Env: ["PATH=/usr/bin:/bin"] } },
  binary: {
    image: { Cmd: ["/bin/false"], WorkingDir: "/" },
    overrides: {
      entrypoint: [Buffer.from("/bin/printf")],
      cmd: [Buffer.from([0xff, 0xfe, 0x20, 0x72, 0x61, 0x77]), Buffer.from([0x80])],
      env: [Buffer.from([0x42, 0x49, 0x4e, 0x3d, 0xc3, 0x28])],
    },
  },
  tricky: {
    image: {
      Entrypoint: ["/bin/sh", "-c"],
      Cmd: ["echo \"a b\" 'c'\n=x", "", "café ☃"],
      Env: ["A=x=y=z", "EMPTY=", "UTF=über été", "NL=line1\nline2"],
      WorkingDir: "/srv/my app",
      User: "app:staff",
    },
  },
};

for (const [name, input] of Object.entries(cases)) {
  void test(`runconfig: ${name} encodes to the golden bytes and means what ${name}.json says`, () => {
    const cfg = resolveRuntimeConfig(input.image, input.overrides);
    const enc = encodeRuntimeConfig(cfg);
    assert.deepEqual(enc.argv, read(`${name}.argv`));
    assert.deepEqual(enc.env, read(`${name}.env`));
    const want = JSON.parse(read(`${name}.json`).toString("utf8")) as GoldenJson;
    assert.deepEqual(cfg.argv, want.argv_b64.map(b));
    assert.deepEqual(cfg.env, want.env_b64.map(([k, v]) => [b(k), b(v)]));
    assert.deepEqual(cfg.workdir ?? Buffer.from("/"), b(want.workdir_b64));
    assert.deepEqual(cfg.user ?? Buffer.from("0:0"), b(want.user_b64));
  });
}

function rejects(image: ImageConfig["config"], overrides: RunOverrides, message: RegExp): void {
  assert.throws(() => resolveRuntimeConfig(image, overrides), (err: unknown) => isWalkError(err, "invalid_argument") && message.test(err.message));
}

void test("runconfig: no entrypoint, no cmd and no override says what to pass", () => {
  rejects({ Env: ["A=1"] }, {}, /pass --entrypoint or a command/);
  rejects({ Entrypoint: null, Cmd: null }, {}, /pass --entrypoint or a command/);
  rejects({ Cmd: ["/bin/x"] }, { entrypoint: [] }, /pass --entrypoint or a command/);
});

void test("runconfig: an empty argv[0] is rejected (golden bad-empty-argv0)", () => {
  assert.deepEqual(read("bad-empty-argv0.argv"), Buffer.from("walk-argv-v1\0\0"));
  rejects({}, { entrypoint: [""] }, /argv\[0\]\) is empty/);
});

void test("runconfig: --entrypoint replaces Entrypoint and clears Cmd; --cmd replaces Cmd", () => {
  const image = { Entrypoint: ["/e"], Cmd: ["c1", "c2"] };
  const argv = (o: RunOverrides): string[] => resolveRuntimeConfig(image, o).argv.map((a) => a.toString());
  assert.deepEqual(argv({}), ["/e", "c1", "c2"]);
  assert.deepEqual(argv({ entrypoint: ["/x"] }), ["/x"]);
  assert.deepEqual(argv({ cmd: ["y"] }), ["/e", "y"]);
  assert.deepEqual(argv({ entrypoint: ["/x"], cmd: ["y"] }), ["/x", "y"]);
  assert.deepEqual(argv({ entrypoint: [], cmd: ["/only"] }), ["/only"]);
});

void test("runconfig: env overrides win in place, new keys append in order", () => {
  const cfg = resolveRuntimeConfig({ Cmd: ["/x"], Env: ["A=1", "B=2", "A=3"] }, { env: ["C=4", "B=5", "D="] });
  assert.deepEqual(cfg.env.map(([k, v]) => `${k.toString()}=${v.toString()}`), ["A=3", "B=5", "C=4", "D="]);
});

void test("runconfig: invalid env keys are rejected, from the image and from overrides", () => {
  assert.deepEqual(read("bad-key.env"), Buffer.from("walk-env-v1\0=novalue\0"));
  rejects({ Cmd: ["/x"] }, { env: ["=novalue"] }, /empty key/);
  rejects({ Cmd: ["/x"] }, { env: ["NOEQUALS"] }, /not KEY=VALUE/);
  rejects({ Cmd: ["/x"] }, { env: ["A=b\0c"] }, /NUL/);
  rejects({ Cmd: ["/x"], Env: ["=x"] }, {}, /the image's Env entry .* empty key/);
  rejects({ Cmd: ["/x"] }, { env: ["WALK_USER=0:0"] }, /reserved/);
  rejects({ Cmd: ["/x"], Env: ["WALK_WORKDIR=/"] }, {}, /reserved/);
  rejects({ Cmd: ["/x"] }, { env: ["WALK_FUTURE=1"] }, /reserved/);
});

void test("runconfig: workdir must be absolute; the user spec is checked syntactically", () => {
  rejects({ Cmd: ["/x"], WorkingDir: "srv" }, {}, /WorkingDir "srv" is not an absolute path/);
  rejects({ Cmd: ["/x"] }, { workdir: "" }, /--workdir "" is not an absolute path/);
  for (const bad of ["a:b:c", ":g", "u:", "-u", "a b", "u/x", "99999999999", "4294967295"]) rejects({ Cmd: ["/x"] }, { user: bad }, /not a user spec/);
  for (const good of ["nobody", "1000", "app:staff", "1000:1000", "app:0", "0:wheel", "svc$", "a.b_c-d"]) {
    assert.deepEqual(resolveRuntimeConfig({ Cmd: ["/x"] }, { user: good }).user, Buffer.from(good));
  }
  assert.equal(resolveRuntimeConfig({ Cmd: ["/x"], User: "", WorkingDir: "" }).user, undefined);
  assert.equal(resolveRuntimeConfig({ Cmd: ["/x"], User: "", WorkingDir: "" }).workdir, undefined);
});

void test("runconfig: a file over the contract's 1 MiB limit is refused", () => {
  const cfg = resolveRuntimeConfig({}, { cmd: ["/x", "y".repeat(1 << 20)] });
  assert.throws(() => encodeRuntimeConfig(cfg), (err: unknown) => isWalkError(err, "size_exceeded") && /\/walk\/argv/.test(err.message));
});

void test("runconfig: the config id is stable and changes with any byte of the config", () => {
  const id = (o: RunOverrides): string => configIdOf(encodeRuntimeConfig(resolveRuntimeConfig({ Cmd: ["/x"] }, o)));
  assert.match(id({}), /^[0-9a-f]{16}$/);
  assert.equal(id({ env: ["A=1"] }), id({ env: ["A=1"] }));
  const ids = new Set([id({}), id({ env: ["A=1"] }), id({ env: ["A=2"] }), id({ user: "1" }), id({ workdir: "/" }), id({ cmd: ["/x", "A=1"] })]);
  assert.equal(ids.size, 6);
});
