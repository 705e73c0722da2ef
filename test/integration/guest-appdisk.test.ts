// The real app-disk builder (src/image/build.ts) booted by the real guest: an OCI image with two
// layers (busybox, then an app layer with a whiteout) goes through buildAppDisk and walk-init
// runs it with the image's Entrypoint, Cmd, Env, WorkingDir and User; a second run config on the
// same image (a derived disk: base clone + patched /walk files) boots with the new config.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildAppDisk } from "../../src/image/build.js";
import { layerInput } from "../../src/image/flatten/testing/layers.js";
import { buildImage, type BuiltImage, type TarEntry } from "../fixtures/images.js";
import { bootGuest, buildTestBase, type GuestBase } from "../harness/qemu.js";
import { GROUP, PASSWD, makeStateDisk, sha256File } from "../harness/guest-disks.js";

let dir: string;
let base: GuestBase;
let image: BuiltImage;

const script = [
  "#!/bin/sh",
  'echo "<<OUT"',
  'for a in "$@"; do echo "arg[$a]"; done',
  'echo "greeting[$GREETING]"',
  "id; pwd",
  "test -e /etc/motd && echo motd-present || echo motd-whited-out",
  'echo "OUT>>"',
  "exit 5",
  "",
].join("\n");

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "walk-guest-appdisk-"));
  base = await buildTestBase(process.cwd(), join(dir, "base"));
  const applets = execFileSync("/bin/busybox", ["--list"], { encoding: "utf8" })
    .split("\n")
    .filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== "busybox");
  const lower: TarEntry[] = [
    { type: "dir", path: "bin/", mode: 0o755 },
    { type: "file", path: "bin/busybox", mode: 0o755, content: readFileSync("/bin/busybox") },
    ...applets.map((a): TarEntry => ({ type: "symlink", path: `bin/${a}`, target: "busybox" })),
    { type: "dir", path: "etc/", mode: 0o755 },
    { type: "file", path: "etc/passwd", content: PASSWD },
    { type: "file", path: "etc/group", content: GROUP },
    { type: "file", path: "etc/motd", content: "hello\n" },
    { type: "dir", path: "home/", mode: 0o755 },
    { type: "dir", path: "home/app/", mode: 0o700, uid: 1000, gid: 1000 },
  ];
  const upper: TarEntry[] = [
    { type: "whiteout", path: "etc/motd" },
    { type: "dir", path: "srv/", mode: 0o755 },
    { type: "dir", path: "srv/app/", mode: 0o755 },
    { type: "file", path: "srv/app/run.sh", mode: 0o755, content: script },
  ];
  image = await buildImage({
    layers: [{ entries: lower }, { entries: upper, compression: "zstd" }],
    config: { Entrypoint: ["/srv/app/run.sh"], Cmd: ["arg one", ""], Env: ["PATH=/bin", "GREETING=hi=there"], WorkingDir: "/srv/app", User: "app" },
  });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("an image built by buildAppDisk boots with its own runtime config, then with overrides", { timeout: 10 * 60_000 }, async () => {
  const outDir = join(dir, "disks");
  const req = { layers: image.layers.map((l) => layerInput(l)), imageDigest: image.digest, config: image.configJson, outDir };
  const disk = await buildAppDisk(req);
  const state = join(dir, "state.ext4");
  await makeStateDisk(state);
  const before = sha256File(disk.path);
  const r = await bootGuest({ base, app: disk.path, state });
  assert.deepEqual(r.status, { kind: "exit", code: 5 }, r.console);
  const out = /<<OUT\n([\s\S]*?)\nOUT>>/.exec(r.console)?.[1];
  assert.equal(
    out,
    ["arg[arg one]", "arg[]", "greeting[hi=there]", "uid=1000(app) gid=1000(app) groups=29(audio),50(staff)", "/srv/app", "motd-whited-out"].join("\n"),
  );
  assert.equal(sha256File(disk.path), before, "the app disk is unchanged by the run");

  const derived = await buildAppDisk({ ...req, overrides: { cmd: ["second"], user: "0:0", env: ["GREETING=bye"] } });
  assert.equal(derived.reused, "base", "a new config on a built image derives its disk");
  const r2 = await bootGuest({ base, app: derived.path, state });
  assert.deepEqual(r2.status, { kind: "exit", code: 5 }, r2.console);
  const out2 = /<<OUT\n([\s\S]*?)\nOUT>>/.exec(r2.console)?.[1];
  assert.equal(out2, ["arg[second]", "greeting[bye]", "uid=0(root) gid=0(root)", "/srv/app", "motd-whited-out"].join("\n"));
});
