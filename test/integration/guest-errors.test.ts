// Real boots of walk-init under QEMU where setup must fail: each failure is one line on the
// console and a distinct status to the host (docs/guest-contract.md, "Exit status"), and the VM
// ends instead of panicking or hanging.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bootGuest, buildTestBase, type GuestBase } from "../harness/qemu.js";
import { b, makeAppDisk, makeStateDisk, type AppDiskSpec } from "../harness/guest-disks.js";
import type { GuestError } from "../../src/base/status.js";

let dir: string;
let base: GuestBase;
let n = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "walk-guest-errors-"));
  base = await buildTestBase(process.cwd(), join(dir, "base"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function expectError(spec: AppDiskSpec, error: GuestError, message: RegExp, extraCmdline?: string[]): Promise<void> {
  n++;
  const app = join(dir, `app${n}.ext4`);
  const state = join(dir, `state${n}.ext4`);
  await makeAppDisk(app, spec);
  await makeStateDisk(state);
  const r = await bootGuest({ base, app, state, ...(extraCmdline ? { extraCmdline } : {}) });
  assert.equal(r.timedOut, false, r.console);
  assert.equal(r.status?.kind, "error", r.console);
  assert.equal(r.source, "agent");
  assert.deepEqual(r.agentStatus, r.consoleStatus, "both channels carry the same status");
  if (r.status?.kind !== "error") return;
  assert.equal(r.status.error, error);
  assert.match(r.status.message, message);
  assert.match(r.console, new RegExp(`^walk-init: error: ${error}: `, "m"), "one reason line on the console");
  assert.doesNotMatch(r.console, /Kernel panic/);
}

const ok = { argv: [b("/bin/true")], env: [] };

describe("guest setup errors under QEMU", { timeout: 10 * 60_000 }, () => {
  test("missing and corrupt /walk/argv and /walk/env", async () => {
    await expectError({ config: ok, raw: { argv: null } }, "argv_missing", /no \/walk\/argv/);
    await expectError({ config: ok, raw: { argv: Buffer.from("walk-argv-v2\0/bin/true\0") } }, "argv_invalid", /walk-argv-v1/);
    await expectError({ config: ok, raw: { argv: Buffer.from("walk-argv-v1\0/bin/true") } }, "argv_invalid", /does not end with a NUL/);
    await expectError({ config: ok, raw: { env: Buffer.from("walk-env-v1\0=novalue\0") } }, "env_invalid", /non-empty KEY/);
    await expectError({ config: ok, raw: { env: null } }, "env_missing", /no \/walk\/env/);
  });

  test("argv[0] not found, not executable, missing interpreter", async () => {
    await expectError({ config: { argv: [b("no-such-tool")], env: [] } }, "exec_not_found", /no-such-tool: not found on PATH=\/usr\/local\/sbin/);
    await expectError({ config: { argv: [b("/bin/missing")], env: [] } }, "exec_not_found", /\/bin\/missing: no such file/);
    await expectError(
      { config: { argv: [b("/data/script")], env: [] }, files: { "data/script": { content: "#!/bin/sh\n", mode: 0o644 } } },
      "exec_not_executable",
      /\/data\/script: not executable/,
    );
    await expectError(
      { config: { argv: [b("run")], env: [[b("PATH"), b("/data")]] }, files: { "data/run": { content: "#!/no/such/interpreter\n", mode: 0o755 } } },
      "exec_failed",
      /cannot execute run: No such file or directory/,
    );
  });

  test("unknown user, unknown group, WORKDIR not enterable, bad kernel parameter", async () => {
    await expectError({ config: { ...ok, user: b("ghost") } }, "user_unknown", /"ghost" is not in the image's \/etc\/passwd/);
    await expectError({ config: { ...ok, user: b("app:ghosts") } }, "group_unknown", /"ghosts" is not in the image's \/etc\/group/);
    await expectError({ config: { ...ok, workdir: b("/does/not/exist") } }, "workdir", /\/does\/not\/exist: No such file/);
    // /home/app is mode 0700 and owned by app: nobody cannot enter it.
    await expectError({ config: { ...ok, workdir: b("/home/app"), user: b("nobody") } }, "workdir", /\/home\/app: Permission denied/);
    await expectError({ config: ok }, "cmdline", /unknown kernel parameter walk\.bogus/, ["walk.bogus=1"]);
  });
});
