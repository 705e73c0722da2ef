// Unit checks of the pieces with arithmetic worth pinning down: the block allocator's reuse and
// double-release detection, timestamps outside 1970..2038, the htree hash (against debugfs), and
// the sliced CRC32C against the standard check value and a byte-at-a-time CRC.
import { test } from "node:test";
import assert from "node:assert/strict";
import { isWalkError } from "../../lib/errors.js";
import { BlockAllocator } from "./allocator.js";
import { join } from "node:path";
import { Ext4Builder } from "./builder.js";
import { crc32c, crc32cLe32, le32 } from "./crc32c.js";
import { dirHash } from "./dirhash.js";
import { encodeTime } from "./inode.js";
import { debugfs, dir, tempDir } from "./testing.js";

test("the allocator reuses released runs lowest first, merges them, and shrinks at the top", () => {
  const a = new BlockAllocator(10, 1000, () => "full");
  assert.deepEqual(a.alloc(5), { start: 10, length: 5 });
  assert.deepEqual(a.alloc(5), { start: 15, length: 5 });
  assert.deepEqual(a.alloc(5), { start: 20, length: 5 });
  a.release({ start: 15, length: 5 });
  a.release({ start: 10, length: 2 });
  assert.deepEqual(a.alloc(4), { start: 10, length: 2 }, "the lowest free run, even if shorter");
  assert.deepEqual(a.alloc(4), { start: 15, length: 4 });
  a.release({ start: 20, length: 5 });
  assert.equal(a.end, 19, "free space at the top, merged with the free block below it, leaves the disk");
  a.release({ start: 16, length: 3 });
  assert.equal(a.end, 16);
  a.release({ start: 12, length: 1 });
  assert.throws(() => a.release({ start: 12, length: 1 }), (e: unknown) => isWalkError(e, "internal") && /released twice/.test(e.message));
  assert.throws(() => a.release({ start: 11, length: 2 }), (e: unknown) => isWalkError(e, "internal") && /released twice/.test(e.message));
  a.release({ start: 13, length: 2 });
  assert.equal(a.end, 16, "a run below the top stays in the area");
  a.release({ start: 15, length: 1 });
  assert.equal(a.end, 12, "runs merge on both sides, and the merged run reaches the top");
  assert.throws(() => a.release({ start: 5, length: 1 }), (e: unknown) => isWalkError(e, "internal") && /never allocated/.test(e.message));
  assert.throws(() => a.release({ start: 12, length: 1 }), (e: unknown) => isWalkError(e, "internal") && /never allocated/.test(e.message));
  assert.throws(() => a.alloc(2000), (e: unknown) => isWalkError(e, "size_exceeded") && e.message === "full");
});

test("timestamps keep nanoseconds and use the epoch bits past 2038", () => {
  assert.deepEqual(encodeTime({ sec: 1_600_000_000, nsec: 123_456_789 }), { lo: 1_600_000_000, extra: 123_456_789 * 4 });
  assert.deepEqual(encodeTime({ sec: -1, nsec: 0 }), { lo: 0xffffffff, extra: 0 });
  assert.deepEqual(encodeTime({ sec: 2 ** 31, nsec: 1 }), { lo: 2 ** 31, extra: 4 + 1 });
  assert.deepEqual(encodeTime({ sec: 5_000_000_000, nsec: 0 }), { lo: 5_000_000_000 - 2 ** 32, extra: 1 });
  // Outside what ext4 can hold (1901..2446): clamped, never wrapped.
  assert.deepEqual(encodeTime({ sec: -(2 ** 40), nsec: 0 }), { lo: 2 ** 31, extra: 0 });
  assert.deepEqual(encodeTime({ sec: 2 ** 40, nsec: 2e9 }), { lo: 2 ** 31 - 1, extra: (999_999_999 * 4 + 3) >>> 0 });
});

test("the htree hash matches debugfs's half_md4 (unsigned) for every name length class", async () => {
  const { dir: d, cleanup } = await tempDir();
  try {
    const image = join(d, "disk.ext4");
    await (await Ext4Builder.create(image, { maxBytes: 1 << 30 })).finish(dir({}));
    const seedText = "01234567-89ab-cdef-0123-456789abcdef";
    const raw = Buffer.from(seedText.replace(/-/g, ""), "hex");
    const seed = [0, 1, 2, 3].map((i) => raw.readUInt32LE(i * 4));
    const names = ["a", "abc", "abcd", "abcde", "x".repeat(31), "y".repeat(32), "z".repeat(33), "n".repeat(255), "caf\xe9", "\xff\xfe\x80"];
    const outputs = await debugfs(image, names.map((n) => `dx_hash -h 4 -s ${seedText} "${n}"`));
    names.forEach((n, i) => {
      const want = parseInt(/Hash of .* is 0x([0-9a-f]+)/.exec(outputs[i]!)![1]!, 16);
      assert.equal(dirHash(n, seed), want, `hash of ${JSON.stringify(n)}`);
    });
  } finally {
    await cleanup();
  }
});

test("crc32c gives the standard check value and equals a byte-at-a-time CRC at every length and offset", () => {
  assert.equal((crc32c(0xffffffff, Buffer.from("123456789")) ^ 0xffffffff) >>> 0, 0xe3069283);
  const bytewise = (crc: number, data: Uint8Array, start: number, end: number): number => {
    let c = crc >>> 0;
    for (let i = start; i < end; i++) {
      c ^= data[i]!;
      for (let k = 0; k < 8; k++) c = c & 1 ? (0x82f63b78 ^ (c >>> 1)) >>> 0 : c >>> 1;
    }
    return c >>> 0;
  };
  const data = Buffer.alloc(300);
  for (let i = 0; i < data.length; i++) data[i] = (i * 151 + 7) & 0xff;
  for (const seed of [0, 0xffffffff, 0x12345678]) {
    for (const n of [0, 1, 0xff, 0x1234_5678, 0xffff_ffff]) assert.equal(crc32cLe32(seed, n), crc32c(seed, le32(n)), `seed ${seed} le32 ${n}`);
    for (let start = 0; start < 9; start++) {
      for (let end = start; end <= data.length; end += 13) assert.equal(crc32c(seed, data, start, end), bytewise(seed, data, start, end), `seed ${seed} bytes ${start}..${end}`);
    }
  }
});
