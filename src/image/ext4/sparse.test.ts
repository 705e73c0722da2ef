// Sparse and fragmented files: all-zero blocks never reach the disk, so a huge mostly-empty file
// costs little; released blocks are reused, which fragments later files into many extents and
// needs extent trees deeper than the inode's four slots.
import { test } from "node:test";
import assert from "node:assert/strict";
import { open, stat } from "node:fs/promises";
import { join } from "node:path";
import type { FileData } from "../tree.js";
import { Ext4Builder } from "./builder.js";
import { chunks, debugfs, dir, dumpInode, fsck, meta, parseStat, sha256, tempDir } from "./testing.js";

const MIB = 1 << 20;

test("a 1.5 GiB file with a little data makes a small disk", async () => {
  const { dir: d, cleanup } = await tempDir();
  try {
    const image = join(d, "disk.ext4");
    const b = await Ext4Builder.create(image, { maxBytes: 64 * MIB });
    const size = 1536 * MIB + 123;
    const marks = new Map([[0, "head"], [700 * MIB + 5, "middle"], [size - 3, "end"]]);
    const zero = Buffer.alloc(MIB);
    async function* source(): AsyncIterable<Uint8Array> {
      for (let off = 0; off < size; off += MIB) {
        const len = Math.min(MIB, size - off);
        const hits = [...marks].filter(([at]) => at >= off && at < off + len);
        if (hits.length === 0) yield zero.subarray(0, len);
        else {
          const c = Buffer.alloc(len);
          for (const [at, text] of hits) c.write(text, at - off);
          yield c;
        }
      }
    }
    const data = await b.writeData(source(), size);
    assert.equal(data.extents.length, 3);
    const r = await b.finish(dir({ big: meta({ kind: "file", data }) }));
    assert.deepEqual(await fsck(image), { code: 0, complaints: [] });
    const host = await stat(image);
    assert.ok(r.sizeBytes < 2 * MIB, `disk is ${r.sizeBytes} bytes`);
    assert.ok(host.blocks * 512 < MIB, `disk allocates ${host.blocks * 512} bytes on the host`);
    const [out] = await debugfs(image, ["stat /big"]);
    const st = parseStat(out!);
    assert.equal(st.size, size);
    assert.equal(st.blockcount, 3 * 8);
    // Each marked byte is in the block its extent says, and nowhere else is data.
    const fh = await open(image, "r");
    try {
      for (const [at, text] of marks) {
        const e = data.extents.find((x) => Math.floor(at / 4096) >= x.logical && Math.floor(at / 4096) < x.logical + x.length)!;
        const buf = Buffer.alloc(text.length);
        await fh.read(buf, 0, text.length, (e.physical + Math.floor(at / 4096) - e.logical) * 4096 + (at % 4096));
        assert.equal(buf.toString(), text);
      }
    } finally {
      await fh.close();
    }
  } finally {
    await cleanup();
  }
});

test("released blocks are reused, and a file fragmented into 1,501 extents gets a depth-2 tree", async () => {
  const { dir: d, cleanup } = await tempDir();
  try {
    const image = join(d, "disk.ext4");
    const b = await Ext4Builder.create(image, { maxBytes: 256 * MIB });
    const small: FileData[] = [];
    for (let i = 0; i < 3000; i++) small.push(await b.writeData(chunks(Buffer.alloc(4096, (i % 250) + 1)), 4096));
    // Give back every other block: 1,500 one-block holes, all below the end of the data area.
    for (let i = 0; i < 3000; i += 2) b.release(small[i]!);
    const content = Buffer.alloc(2000 * 4096);
    for (let i = 0; i < 2000; i++) content.fill((i % 200) + 7, i * 4096, (i + 1) * 4096);
    const frag = await b.writeData(chunks(content, 1 << 16), content.length);
    assert.equal(frag.extents.length, 1501);
    assert.ok(frag.extents.slice(0, 1500).every((e, i) => e.physical === small[i * 2]!.extents[0]!.physical && e.length === 1), "holes are filled lowest first");
    // A released file that nothing reuses: its blocks must end up free.
    const dropped = await b.writeData(chunks(Buffer.alloc(10 * 4096, 9)), 10 * 4096);
    const kept = await b.writeData(chunks(Buffer.from("kept")), 4);
    b.release(dropped);
    const children: [string, ReturnType<typeof meta>][] = [["frag", meta({ kind: "file", data: frag })], ["kept", meta({ kind: "file", data: kept })]];
    for (let i = 1; i < 3000; i += 2) children.push([`s${i}`, meta({ kind: "file", data: small[i]! })]);
    const r = await b.finish(dir(children));
    assert.deepEqual(await fsck(image), { code: 0, complaints: [] });
    const [st, ex, stats] = await debugfs(image, ["stat /frag", "ex /frag", "stats"]);
    const s = parseStat(st!);
    // 2,000 data blocks, 5 leaf blocks and 1 index block over them: depth 2 under the inode.
    assert.equal(s.blockcount, (2000 + 5 + 1) * 8);
    assert.match(ex!, /^\s*2\/\s*2\s/m);
    assert.equal(sha256(await dumpInode(image, s.ino)), sha256(content));
    assert.match(stats!, new RegExp(`Free blocks:\\s+${r.freeBlocks}\\n`));
    assert.ok(r.freeBlocks >= 10, "the dropped file's blocks are free");
  } finally {
    await cleanup();
  }
});
