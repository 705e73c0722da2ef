// Reserved files and patching: a disk built with one /walk/env, copied and patched to another,
// is byte-identical to a disk built with the other from the start, and stays e2fsck-clean.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { isWalkError } from "../../lib/errors.js";
import { Ext4Builder, type Ext4Result } from "./builder.js";
import { patchReservedFile } from "./patch.js";
import { debugfs, dir, dumpInode, file, fsck, parseStat, sha256, symlink, tempDir } from "./testing.js";

const ARGV = Buffer.from("walk-argv-v1\0/bin/sh\0-c\0echo hi\0");
const envOf = (n: number): Buffer => Buffer.from(`walk-env-v1\0${"K=V\0".repeat(n)}`);

/** The same image each time, with the given /walk/env. */
async function build(path: string, env: Buffer): Promise<Ext4Result> {
  const b = await Ext4Builder.create(path, { maxBytes: 1 << 30, timestamp: 1_700_000_000 });
  const root = dir({ bin: dir({ sh: await file(b, "#!binary\n") }), walk: symlink("/etc") });
  return b.finish(root, {
    reserved: [
      { path: ["walk", "argv"], capacity: 1 << 20, content: ARGV },
      { path: ["walk", "env"], capacity: 1 << 20, content: env },
    ],
  });
}

async function content(image: string, path: string): Promise<{ bytes: Buffer; extents: string }> {
  const [out] = await debugfs(image, [`stat ${path}`]);
  const st = parseStat(out!);
  return { bytes: await dumpInode(image, st.ino), extents: st.extents };
}

test("reserved files hold their content, own their capacity, and replace what was in the way", async () => {
  const { dir: d, cleanup } = await tempDir();
  try {
    const image = join(d, "a.ext4");
    const r = await build(image, envOf(3));
    assert.deepEqual(await fsck(image), { code: 0, complaints: [] });
    assert.deepEqual(Object.keys(r.patchMap.files).sort(), ["walk/argv", "walk/env"]);
    assert.deepEqual(JSON.parse(JSON.stringify(r.patchMap)), r.patchMap, "the patch map is plain JSON");
    const argv = await content(image, "/walk/argv");
    assert.deepEqual(argv.bytes, ARGV);
    // One initialized block for the content, the rest of the 256 blocks unwritten.
    assert.match(argv.extents, /^\(0\):\d+, \(1-255\[u\]\):\d+-\d+$/);
    const [walkDir, argvStat] = (await debugfs(image, ["stat /walk", "stat /walk/argv"])).map(parseStat);
    assert.equal(walkDir!.type, "directory", "the image's /walk symlink was replaced by a directory");
    assert.equal(argvStat!.mode, 0o400);
    assert.equal(argvStat!.blockcount, 256 * 8);
  } finally {
    await cleanup();
  }
});

test("a patched copy equals a disk built with the new content", async () => {
  const { dir: d, cleanup } = await tempDir();
  try {
    const base = join(d, "base.ext4");
    const r = await build(base, envOf(3));
    for (const n of [5000, 1, 0]) {
      const env = n === 0 ? Buffer.alloc(0) : envOf(n);
      const patched = join(d, `patched-${n}.ext4`);
      const fresh = join(d, `fresh-${n}.ext4`);
      await copyFile(base, patched);
      await patchReservedFile(patched, r.patchMap, "walk/env", env);
      assert.deepEqual(await fsck(patched), { code: 0, complaints: [] });
      assert.deepEqual((await content(patched, "/walk/env")).bytes, env);
      await build(fresh, env);
      assert.equal(sha256(await readFile(patched)), sha256(await readFile(fresh)), `patched and fresh disks differ for ${n} entries`);
    }
  } finally {
    await cleanup();
  }
});

test("a patch that does not fit or does not match changes nothing", async () => {
  const { dir: d, cleanup } = await tempDir();
  try {
    const image = join(d, "a.ext4");
    const other = join(d, "b.ext4");
    const r = await build(image, envOf(3));
    const before = sha256(await readFile(image));
    await assert.rejects(patchReservedFile(image, r.patchMap, "walk/env", Buffer.alloc((1 << 20) + 1)), (e: unknown) => isWalkError(e, "size_exceeded") && /capacity of reserved file "walk\/env"/.test(e.message));
    await assert.rejects(patchReservedFile(image, r.patchMap, "walk/other", Buffer.alloc(1)), (e: unknown) => isWalkError(e, "not_found"));
    const wrong = { ...r.patchMap, files: { ...r.patchMap.files, "walk/env": { ...r.patchMap.files["walk/env"]!, inodeOffset: r.patchMap.files["walk/argv"]!.inodeOffset } } };
    await assert.rejects(patchReservedFile(image, wrong, "walk/env", Buffer.alloc(1)), (e: unknown) => isWalkError(e, "conflict") && /does not match its patch map/.test(e.message));
    assert.equal(sha256(await readFile(image)), before);
    // A map for a different disk (here: one with more data) is refused too.
    const b = await Ext4Builder.create(other, { maxBytes: 1 << 30 });
    const big = await file(b, Buffer.alloc(50_000, 1));
    const r2 = await b.finish(dir({ big }), { reserved: [{ path: ["walk", "env"], capacity: 1000, content: Buffer.from("x") }] });
    assert.equal(r2.patchMap.files["walk/env"]!.capacity, 1000, "the capacity asked for, not the block it rounds up to");
    assert.equal(r2.patchMap.files["walk/env"]!.capacityBlocks, 1);
    await assert.rejects(patchReservedFile(other, r2.patchMap, "walk/env", Buffer.alloc(1001)), (e: unknown) => isWalkError(e, "size_exceeded"));
    await assert.rejects(patchReservedFile(image, r2.patchMap, "walk/env", Buffer.alloc(1)), (e: unknown) => isWalkError(e, "conflict"));
    assert.equal(sha256(await readFile(image)), before);
  } finally {
    await cleanup();
  }
});

test("bad reserved file specs are refused", async () => {
  const { dir: d, cleanup } = await tempDir();
  try {
    const cases: [Parameters<Ext4Builder["finish"]>[1], string, RegExp][] = [
      [{ reserved: [{ path: ["walk", "env"], capacity: 10, content: Buffer.alloc(11) }] }, "size_exceeded", /exceeds its capacity of 10/],
      [{ reserved: [{ path: ["walk", "env"], capacity: 0, content: Buffer.alloc(0) }] }, "invalid_argument", /capacity must be/],
      [{ reserved: [{ path: ["walk", "env"], capacity: 10, content: Buffer.alloc(0) }, { path: ["walk", "env"], capacity: 10, content: Buffer.alloc(0) }] }, "invalid_argument", /given twice/],
      [{ reserved: [{ path: ["walk", ".."], capacity: 10, content: Buffer.alloc(0) }] }, "invalid_argument", /invalid name/],
    ];
    for (const [i, [opts, code, re]] of cases.entries()) {
      const b = await Ext4Builder.create(join(d, `${i}.ext4`), { maxBytes: 1 << 30 });
      await assert.rejects(b.finish(dir({}), opts), (e: unknown) => isWalkError(e) && e.code === code && re.test(e.message));
    }
  } finally {
    await cleanup();
  }
});
