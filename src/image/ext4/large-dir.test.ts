// Scale: a directory with 50,000 entries and enough inodes to need a second block group, and a
// directory big enough for a two-level htree, read back completely through debugfs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Node } from "../tree.js";
import { Ext4Builder } from "./builder.js";
import { mkdir, lstat } from "node:fs/promises";
import { dirHash } from "./dirhash.js";
import { hashSeed } from "./superblock.js";
import { debugfs, dir, fsck, meta, parseLs, parseStat, run, tempDir } from "./testing.js";

test("a directory with 50,000 entries", async () => {
  const { dir: d, cleanup } = await tempDir();
  try {
    const image = join(d, "disk.ext4");
    const b = await Ext4Builder.create(image, { maxBytes: 1 << 30 });
    const entries: [string, Node][] = [];
    const shared = meta({ kind: "file", data: { size: 0, extents: [] } });
    for (let i = 0; i < 50_000; i++) {
      const name = `entry-${String(i).padStart(5, "0")}-${"x".repeat(i % 40)}`;
      entries.push([name, i % 10 === 0 ? shared : meta({ kind: i % 3 === 0 ? "fifo" : "file", data: { size: 0, extents: [] } })]);
    }
    const r = await b.finish(dir({ big: dir(entries) }));
    assert.ok(r.inodes > 32_768, "more inodes than one group holds");
    assert.deepEqual(await fsck(image), { code: 0, complaints: [] });
    const [ls, one, big] = await debugfs(image, ["ls -l -r /big", "stat /big/entry-00010-xxxxxxxxxx", "stat /big"]);
    assert.equal(parseStat(big!).flags & 0x1000, 0x1000, "the directory is an htree");
    const names = parseLs(ls!);
    assert.equal(names.size, 50_002);
    for (const [name] of entries) assert.ok(names.has(name), `missing ${name}`);
    assert.equal(parseStat(one!).links, 5000, "one inode for the 5,000 hardlinks");
  } finally {
    await cleanup();
  }
});

test("a directory with more leaves than the htree root holds gets a level of index nodes", async () => {
  const { dir: d, cleanup } = await tempDir();
  try {
    const image = join(d, "disk.ext4");
    const b = await Ext4Builder.create(image, { maxBytes: 1 << 30 });
    const names: string[] = [];
    for (let i = 0; i < 12_000; i++) names.push(`${String(i).padStart(6, "0")}${"L".repeat(200)}`);
    await b.finish(dir({ wide: dir(names.map((n) => [n, meta({ kind: "fifo" })])) }));
    assert.deepEqual(await fsck(image), { code: 0, complaints: [] });
    const [htree, ls, one] = await debugfs(image, ["htree_dump /wide", "ls -l -r /wide", `stat /wide/${names[7777]!}`]);
    assert.match(htree!, /Indirect levels: 1\n/);
    assert.equal(parseLs(ls!).size, 12_002);
    assert.equal(parseStat(one!).type, "FIFO", "lookup by name through both index levels");
  } finally {
    await cleanup();
  }
});

test("names with the same hash on both sides of a leaf boundary are found (continuation leaf)", async () => {
  const { dir: d, cleanup } = await tempDir();
  try {
    const uuid = Buffer.from("00112233445566778899aabbccddeeff", "hex");
    const seed = hashSeed(uuid);
    // Find two 8-byte names with the same hash (birthday search over 31-bit hashes).
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; pair === undefined; i++) {
      const name = `c${String(i).padStart(7, "0")}`;
      const h = dirHash(name, seed);
      const other = seen.get(h);
      if (other !== undefined) pair = [other, name];
      else seen.set(h, name);
    }
    const h = dirHash(pair[0], seed);
    // 8-byte names take 16 bytes, 255 to a leaf (before its checksum entry): 254 smaller hashes
    // put the pair across leaves 1 and 2.
    const below = [...seen].filter(([x]) => x < h).slice(0, 254).map(([, n]) => n);
    const above = [...seen].filter(([x]) => x > h).slice(0, 300).map(([, n]) => n);
    assert.equal(below.length, 254);
    const names = [...below, ...pair, ...above];
    const image = join(d, "disk.ext4");
    const b = await Ext4Builder.create(image, { maxBytes: 1 << 30, uuid });
    await b.finish(dir({ c: dir(names.map((n, i) => [n, meta({ kind: "fifo", uid: i })])) }));
    assert.deepEqual(await fsck(image), { code: 0, complaints: [] });
    const [htree] = await debugfs(image, ["htree_dump /c"]);
    assert.match(htree!, new RegExp(`Entry #1: Hash 0x${((h | 1) >>> 0).toString(16).padStart(8, "0")}, block 2`), "leaf 2 is marked as a continuation");
    if (process.getuid?.() === 0) {
      // The kernel's htree lookup must find both names, including the one in the continuation leaf.
      const mnt = join(d, "mnt");
      await mkdir(mnt);
      assert.equal((await run("mount", ["-o", "loop,ro,noload", image, mnt])).code, 0);
      try {
        for (const n of pair) assert.equal((await lstat(join(mnt, "c", n))).uid, names.indexOf(n));
      } finally {
        assert.equal((await run("umount", [mnt])).code, 0);
      }
    }
  } finally {
    await cleanup();
  }
});
