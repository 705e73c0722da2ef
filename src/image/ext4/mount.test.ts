// Root only: the guest kernel's view. A built and patched disk is loop-mounted read-only and
// every entry is compared with the tree through lstat, readdir, readlink, file contents and
// getfattr. Skips (saying why) when not root, since mounting needs it; building never does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { Ext4Builder } from "./builder.js";
import { buildFixture, diffWithMount } from "./fixture.js";
import { patchReservedFile } from "./patch.js";
import { run, tempDir } from "./testing.js";

const notRoot = process.getuid?.() !== 0 ? "loop mounting needs root" : false;

test("a loop-mounted disk shows exactly the tree", { skip: notRoot }, async () => {
  const { dir: d, cleanup } = await tempDir();
  try {
    const image = join(d, "disk.ext4");
    const mnt = join(d, "mnt");
    await mkdir(mnt);
    const b = await Ext4Builder.create(image, { maxBytes: 1 << 30, timestamp: 1_700_000_000 });
    const { root, contents } = await buildFixture(b);
    const r = await b.finish(root, { reserved: [{ path: ["walk", "env"], capacity: 1 << 20, content: Buffer.from("walk-env-v1\0A=1\0") }] });
    const env = Buffer.from("walk-env-v1\0A=2\0B=x y\0");
    await patchReservedFile(image, r.patchMap, "walk/env", env);
    const logBefore = (await run("dmesg", [])).stdout.length;
    const mounted = await run("mount", ["-o", "loop,ro,noload", image, mnt]);
    assert.equal(mounted.code, 0, mounted.stderr.toString());
    try {
      const device = basename((await run("findmnt", ["-n", "-o", "SOURCE", mnt])).stdout.toString().trim());
      assert.match(device, /^loop\d+$/);
      assert.deepEqual(await readFile(join(mnt, "walk", "env")), env);
      // The tree as given, plus the lost+found and /walk the builder added, entry by entry.
      assert.deepEqual(await diffWithMount(mnt, root, contents, ["lost+found", "walk"]), []);
      // Having read every entry, the kernel logged no complaint about this disk.
      const log = (await run("dmesg", [])).stdout.subarray(logBefore).toString("latin1");
      assert.deepEqual(log.split("\n").filter((l) => new RegExp(`EXT4-fs (error|warning) \\(device ${device}\\)`).test(l)), []);
    } finally {
      const u = await run("umount", [mnt]);
      assert.equal(u.code, 0, u.stderr.toString());
    }
  } finally {
    await cleanup();
  }
});
