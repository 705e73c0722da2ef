// The data area's write buffer: files that share one write keep their bytes exactly where their
// extents say, whatever happens around them (a failed file before its blocks were written, a
// failed file that spanned a write, released blocks reused inside the buffered range, zero
// blocks skipped in the middle of a buffered run).
import { test } from "node:test";
import assert from "node:assert/strict";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { isWalkError } from "../../lib/errors.js";
import type { FileData } from "../tree.js";
import { Ext4Builder } from "./builder.js";
import { chunks, dir, fsck, meta, tempDir } from "./testing.js";

const MIB = 1 << 20;

/** `n` bytes that differ per file and per position, none of them zero. */
function content(seed: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = ((seed * 31 + i * 7) % 251) + 1;
  return b;
}

async function readBack(image: string, data: FileData): Promise<Buffer> {
  const out = Buffer.alloc(data.size);
  const fh = await open(image, "r");
  try {
    for (const e of data.extents) {
      const from = e.logical * 4096;
      const len = Math.min(e.length * 4096, data.size - from);
      await fh.read(out, from, len, e.physical * 4096);
    }
  } finally {
    await fh.close();
  }
  return out;
}

test("files sharing a buffered write read back exactly around failures, reuse and holes", async () => {
  const { dir: d, cleanup } = await tempDir();
  try {
    const image = join(d, "disk.ext4");
    const b = await Ext4Builder.create(image, { maxBytes: 256 * MIB });
    const files = new Map<string, { data: FileData; bytes: Buffer }>();
    const put = async (name: string, bytes: Buffer, chunk = 7000): Promise<FileData> => {
      const data = await b.writeData(chunks(bytes, chunk), bytes.length);
      files.set(name, { data, bytes });
      return data;
    };
    for (let i = 0; i < 20; i++) await put(`small${i}`, content(i, 100 + i * 1000));
    const beforeFail = files.get("small19")!.data;
    // Fails while everything so far is still buffered: its blocks are dropped and handed out next.
    await assert.rejects(b.writeData(chunks(content(99, 9000)), 20_000), (e: unknown) => isWalkError(e, "invalid_argument") && /ended after 9000/.test(e.message));
    const next = await put("afterFail", content(100, 5000));
    const last = beforeFail.extents[beforeFail.extents.length - 1]!;
    assert.equal(next.extents[0]!.physical, last.physical + last.length, "the failed file's blocks were reused");
    // Fails after filling more than one 4 MiB write.
    await assert.rejects(b.writeData(chunks(content(101, 9 * MIB), MIB), 10 * MIB), (e: unknown) => isWalkError(e, "invalid_argument"));
    // Zero blocks between data blocks, right behind other buffered files: holes, data moved down.
    const sparse = Buffer.concat([content(102, 4096), Buffer.alloc(3 * 4096), content(103, 8192), Buffer.alloc(4096), content(104, 10)]);
    const s = await put("sparse", sparse, 4096 * 2 + 100);
    assert.deepEqual(s.extents.map((e) => [e.logical, e.length]), [[0, 1], [4, 2], [7, 1]]);
    await put("more", content(105, 12_345));
    // Released blocks inside the buffered range are reused by the next file: it is not adjacent.
    b.release(files.get("small3")!.data);
    files.delete("small3");
    await put("reuse", content(106, 3000));
    await put("big", content(107, 6 * MIB + 17), 100_000);
    await put("tail", content(108, 1));
    await put("empty", Buffer.alloc(0));
    const root = dir([...files].map(([name, f]) => [name, meta({ kind: "file", data: f.data })]));
    await b.finish(root);
    assert.deepEqual(await fsck(image), { code: 0, complaints: [] });
    for (const [name, f] of files) assert.ok((await readBack(image, f.data)).equals(f.bytes), `${name} reads back`);
  } finally {
    await cleanup();
  }
});
