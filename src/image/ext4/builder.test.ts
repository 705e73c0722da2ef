// Ext4Builder against the oracle: every kind of entry reads back exactly through debugfs, every
// disk passes e2fsck -fn with no complaint, and bad input fails with a clear error.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { isWalkError } from "../../lib/errors.js";
import type { Node } from "../tree.js";
import { Ext4Builder } from "./builder.js";
import { buildFixture, diffWithDebugfs } from "./fixture.js";
import { chunks, debugfs, dir, file, fsck, meta, parseStat, sha256, symlink, tempDir } from "./testing.js";

const MAX = 1 << 30;

async function assertClean(image: string): Promise<void> {
  assert.deepEqual(await fsck(image), { code: 0, complaints: [] });
}

test("a tree with every kind of entry reads back exactly and passes e2fsck -fn", async () => {
  const { dir: d, cleanup } = await tempDir();
  try {
    const image = join(d, "disk.ext4");
    const b = await Ext4Builder.create(image, { maxBytes: MAX, timestamp: 1_700_000_000, label: "walk-app" });
    const { root, contents } = await buildFixture(b);
    const result = await b.finish(root);
    assert.equal((await stat(image)).size, result.sizeBytes);
    await assertClean(image);
    assert.deepEqual(await diffWithDebugfs(image, root, contents), []);
    // Owners above 16 bits, a shared xattr block, and both device encodings, seen raw.
    const [ids, big1, big2, nvme, nul, lpf] = (await debugfs(image, ["stat /ids", "stat /xattrs/big1", "stat /xattrs/big2", "stat /dev/nvme", "stat /dev/null", "stat /lost+found"])).map(parseStat);
    assert.deepEqual([ids!.uid, ids!.gid], [70_000, 4_000_000_000]);
    assert.ok(big1!.fileAcl > 0);
    assert.equal(big1!.fileAcl, big2!.fileAcl, "identical xattr blocks are shared");
    assert.deepEqual(nvme!.device, { major: 259, minor: 70_000 });
    assert.deepEqual(nul!.device, { major: 1, minor: 3 });
    assert.equal(lpf!.mode, 0o700);
  } finally {
    await cleanup();
  }
});

test("the same input gives a byte-identical disk", async () => {
  const { dir: d, cleanup } = await tempDir();
  try {
    const hashes: string[] = [];
    for (const name of ["a.ext4", "b.ext4"]) {
      const b = await Ext4Builder.create(join(d, name), { maxBytes: MAX, timestamp: 1_700_000_000 });
      const { root } = await buildFixture(b);
      await b.finish(root);
      hashes.push(sha256(await readFile(join(d, name))));
    }
    assert.equal(hashes[0], hashes[1]);
  } finally {
    await cleanup();
  }
});

test("an empty tree makes a tiny, valid disk", async () => {
  const { dir: d, cleanup } = await tempDir();
  try {
    const image = join(d, "tiny.ext4");
    const b = await Ext4Builder.create(image, { maxBytes: 1 << 20 });
    const r = await b.finish(dir({}));
    assert.ok(r.sizeBytes <= 128 * 1024, `tiny disk is ${r.sizeBytes} bytes`);
    await assertClean(image);
    const [ls, stats] = await debugfs(image, ["ls -l /", "stats"]);
    assert.match(ls!, / lost\+found\n/);
    assert.match(stats!, /Filesystem features:\s+ext_attr dir_index sparse_super2 filetype extent flex_bg sparse_super large_file huge_file dir_nlink extra_isize metadata_csum\n/);
    assert.match(stats!, /Checksum type:\s+crc32c\n/);
  } finally {
    await cleanup();
  }
});

test("spare blocks and inodes span several groups and are counted free", async () => {
  const { dir: d, cleanup } = await tempDir();
  try {
    const image = join(d, "disk.ext4");
    const b = await Ext4Builder.create(image, { maxBytes: MAX, spareBlocks: 100_000, spareInodes: 40_000 });
    const r = await b.finish(dir({ f: await file(b, Buffer.alloc(5 * 4096, 3)) }));
    assert.ok(r.blocks > 3 * 32_768 && r.freeBlocks >= 100_000 && r.freeInodes >= 40_000);
    await assertClean(image);
    const [stats] = await debugfs(image, ["stats"]);
    assert.match(stats!, new RegExp(`Free blocks:\\s+${r.freeBlocks}\\n[^]*Free inodes:\\s+${r.freeInodes}\\n`));
    assert.match(stats!, /Group\s+3: block bitmap at/);
  } finally {
    await cleanup();
  }
});

test("an image's own lost+found directory is kept", async () => {
  const { dir: d, cleanup } = await tempDir();
  try {
    const image = join(d, "disk.ext4");
    const b = await Ext4Builder.create(image, { maxBytes: MAX });
    const root = dir({ "lost+found": dir({ kept: await file(b, "x") }, { mode: 0o755, uid: 7 }) });
    await b.finish(root);
    await assertClean(image);
    const [st, ls] = await debugfs(image, ["stat /lost+found", "ls /lost+found"]);
    assert.equal(parseStat(st!).uid, 7);
    assert.match(ls!, /kept/);
  } finally {
    await cleanup();
  }
});

/** Builds `root` and expects finish to fail with `code` and a message matching `message`. */
async function expectFinishError(make: (b: Ext4Builder) => Promise<Node>, code: string, message: RegExp, maxBytes = MAX): Promise<void> {
  const { dir: d, cleanup } = await tempDir();
  try {
    const b = await Ext4Builder.create(join(d, "disk.ext4"), { maxBytes });
    const root = await make(b);
    await assert.rejects(b.finish(root), (e: unknown) => isWalkError(e) && e.code === code && message.test(e.message));
    // The builder is closed: it takes no more data and cannot be finished again.
    assert.throws(() => b.release({ size: 0, extents: [] }), (e: unknown) => isWalkError(e, "conflict"));
    await assert.rejects(b.finish(dir({})), (e: unknown) => isWalkError(e, "conflict"));
  } finally {
    await cleanup();
  }
}

test("bad trees fail with errors that name the entry", async () => {
  await expectFinishError(async () => dir({ a: dir({ "x/y": meta({ kind: "fifo" }) }) }), "invalid_argument", /"\/a".*invalid name "x\/y"/);
  await expectFinishError(async () => dir({ [`long${"n".repeat(252)}`]: meta({ kind: "fifo" }) }), "invalid_argument", /invalid name/);
  await expectFinishError(async () => dir({ "\u0100": meta({ kind: "fifo" }) }), "invalid_argument", /invalid name/);
  await expectFinishError(async () => dir({ s: symlink("") }), "invalid_argument", /"\/s": symlink target/);
  await expectFinishError(async () => dir({ s: symlink("x".repeat(4096)) }), "invalid_argument", /symlink target/);
  await expectFinishError(async () => dir({ s: symlink("a\0b") }), "invalid_argument", /none of them NUL/);
  await expectFinishError(async () => {
    const shared = dir({});
    return dir({ a: shared, b: shared });
  }, "invalid_argument", /"\/b": is a directory that appears twice/);
  await expectFinishError(async () => dir({ f: meta({ kind: "file" }) }), "invalid_argument", /"\/f": is a file without data/);
  await expectFinishError(async () => dir({ f: meta({ kind: "file", data: { size: 10, extents: [{ logical: 0, physical: 999_999, length: 1 }] } }) }), "invalid_argument", /outside this disk's data area/);
  await expectFinishError(async () => dir({ c: meta({ kind: "char", rdev: { major: 4096, minor: 0 } }) }), "invalid_argument", /"\/c": device numbers/);
  await expectFinishError(async () => dir({ "lost+found": meta({ kind: "fifo" }) }), "unsupported", /fifo at \/lost\+found/);
  await expectFinishError(async () => dir({ f: meta({ kind: "fifo", xattrs: new Map([["os2.x", Buffer.from("1")]]) }) }), "unsupported", /"\/f".*os2\.x/);
  await expectFinishError(async () => dir({ f: meta({ kind: "fifo", xattrs: new Map([["user.a\0b", Buffer.from("1")]]) }) }), "invalid_argument", /"\/f": xattr name .* has a NUL/);
  await expectFinishError(async () => dir({ f: meta({ kind: "fifo", xattrs: new Map([["user.huge", Buffer.alloc(4000)], ["user.more", Buffer.alloc(200)]]) }) }), "size_exceeded", /"\/f": xattrs need \d+ bytes/);
  await expectFinishError(async (b) => {
    const f = await file(b, "data");
    return dir({ a: f, b: { ...f } });
  }, "internal", /belongs to another file/);
});

test("a disk larger than maxBytes fails with size_exceeded", async () => {
  const { dir: d, cleanup } = await tempDir();
  try {
    const maxBytes = 1 << 20;
    const b = await Ext4Builder.create(join(d, "disk.ext4"), { maxBytes });
    const fits = await file(b, Buffer.alloc(100 * 4096, 1));
    await assert.rejects(b.writeData(chunks(Buffer.alloc(200 * 4096, 2)), 200 * 4096), (e: unknown) => isWalkError(e, "size_exceeded") && /limit of 1048576 bytes/.test(e.message));
    // The failed write gave its blocks back: the next file lands right after the first one.
    const next = await b.writeData(chunks(Buffer.from("x")), 1);
    assert.equal(next.extents[0]!.physical, fits.data!.extents[0]!.physical + 100);
    // Data fits, but data plus metadata does not.
    const many = new Map<string, Node>();
    for (let i = 0; i < 3000; i++) many.set(`d${i}`, dir({}));
    await assert.rejects(b.finish(dir([...many])), (e: unknown) => isWalkError(e, "size_exceeded") && /disk needs \d+ bytes, more than the limit/.test(e.message));
  } finally {
    await cleanup();
  }
});

test("content longer or shorter than declared is rejected and its blocks are given back", async () => {
  const { dir: d, cleanup } = await tempDir();
  try {
    const image = join(d, "disk.ext4");
    const b = await Ext4Builder.create(image, { maxBytes: MAX });
    const first = await b.writeData(chunks(Buffer.alloc(3 * 4096, 1)), 3 * 4096);
    await assert.rejects(b.writeData(chunks(Buffer.alloc(2 << 20, 1)), 1 << 20), (e: unknown) => isWalkError(e, "invalid_argument") && /longer than its declared 1048576 bytes/.test(e.message));
    await assert.rejects(b.writeData(chunks(Buffer.alloc(5000, 1)), 9000), (e: unknown) => isWalkError(e, "invalid_argument") && /ended after 5000 of its declared 9000 bytes/.test(e.message));
    await assert.rejects(b.writeData(chunks(Buffer.alloc(1)), -1), (e: unknown) => isWalkError(e, "invalid_argument"));
    // One write at a time, and no finish while one runs.
    let resume = (): void => {};
    async function* slow(): AsyncIterable<Uint8Array> {
      yield Buffer.from("a");
      await new Promise<void>((r) => (resume = r));
      yield Buffer.from("b");
    }
    const pending = b.writeData(slow(), 2);
    await new Promise((r) => setImmediate(r));
    await assert.rejects(b.writeData(chunks(Buffer.from("x")), 1), (e: unknown) => isWalkError(e, "internal") && /before the previous call finished/.test(e.message));
    await assert.rejects(b.finish(dir({})), (e: unknown) => isWalkError(e, "conflict") && /still running/.test(e.message));
    resume();
    b.release(await pending);
    const after = await b.writeData(chunks(Buffer.from("ok")), 2);
    assert.equal(after.extents[0]!.physical, first.extents[0]!.physical + 3);
    await b.finish(dir({ a: meta({ kind: "file", data: first }), b: meta({ kind: "file", data: after }) }));
    await assertClean(image);
  } finally {
    await cleanup();
  }
});

test("create refuses bad options and an existing file", async () => {
  const { dir: d, cleanup } = await tempDir();
  try {
    const p = join(d, "disk.ext4");
    await assert.rejects(Ext4Builder.create(p, { maxBytes: 1000 }), (e: unknown) => isWalkError(e, "invalid_argument"));
    await assert.rejects(Ext4Builder.create(p, { maxBytes: MAX, label: "x".repeat(17) }), (e: unknown) => isWalkError(e, "invalid_argument") && /longer than 16 bytes/.test(e.message));
    await assert.rejects(Ext4Builder.create(p, { maxBytes: MAX, uuid: "not-a-uuid" }), (e: unknown) => isWalkError(e, "invalid_argument"));
    const b = await Ext4Builder.create(p, { maxBytes: MAX, uuid: "0123abcd-0000-4000-8000-00000000abcd" });
    await assert.rejects(Ext4Builder.create(p, { maxBytes: MAX }), /EEXIST/);
    await b.finish(dir({}));
    const [sb] = await debugfs(p, ["stats"]);
    assert.match(sb!, /Filesystem UUID:\s+0123abcd-0000-4000-8000-00000000abcd/);
  } finally {
    await cleanup();
  }
});
