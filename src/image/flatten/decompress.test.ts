// Decompression: both zstd decoders agree, a failing source surfaces as itself (not as a corrupt
// stream), and media types map to compressions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { compress } from "../../../test/fixtures/images.js";
import { isWalkError } from "../../lib/errors.js";
import { compressionOf, decompress, unzstdInProcess, unzstdProcess } from "./decompress.js";
import { chunked } from "./testing/layers.js";

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

const data = Buffer.concat(Array.from({ length: 2000 }, (_, i) => Buffer.from(`line ${i} ${"z".repeat(i % 97)}\n`)));

void test("decompress: zstd in a child process and in-process give the same bytes", async () => {
  const z = await compress(data, "zstd", 19);
  assert.deepEqual(await collect(unzstdProcess(chunked(z, 999))), data);
  assert.deepEqual(await collect(unzstdInProcess(chunked(z, 999))), data);
  await assert.rejects(collect(unzstdInProcess(chunked(z.subarray(0, z.length - 20)))), (e: unknown) => isWalkError(e, "invalid_argument") && /zstd stream is truncated/.test(e.message));
  await assert.rejects(collect(unzstdProcess(chunked(Buffer.from("not zstd at all")))), (e: unknown) => isWalkError(e, "invalid_argument") && /zstd stream is truncated or corrupt/.test(e.message));
});

void test("decompress: an error of the source itself passes through unwrapped", async () => {
  for (const how of ["gzip", "zstd"] as const) {
    const z = await compress(data, how);
    async function* failing(): AsyncGenerator<Uint8Array, void, undefined> {
      yield z.subarray(0, 100);
      throw new Error("store read failed");
    }
    await assert.rejects(collect(decompress(failing(), how)), (e: unknown) => e instanceof Error && e.message === "store read failed", how);
  }
});

void test("decompress: media types choose the compression; others are unsupported", () => {
  assert.equal(compressionOf("application/vnd.oci.image.layer.v1.tar+zstd"), "zstd");
  assert.equal(compressionOf("application/vnd.docker.image.rootfs.diff.tar.gzip"), "gzip");
  assert.equal(compressionOf("application/vnd.oci.image.layer.nondistributable.v1.tar"), "none");
  assert.throws(() => compressionOf("application/vnd.oci.image.layer.v1.tar+bzip2"), (e: unknown) => isWalkError(e, "unsupported"));
});

void test("decompress: the stream's magic bytes win over a wrong label, and the mismatch is reported", async () => {
  const gz = await compress(data, "gzip");
  const zs = await compress(data, "zstd");
  const cases: [Buffer, "none" | "gzip" | "zstd", string | undefined][] = [
    [data, "gzip", "none"], // docker save labels plain tars rootfs.diff.tar.gzip
    [gz, "none", "gzip"],
    [zs, "gzip", "zstd"],
    [gz, "gzip", undefined],
  ];
  for (const [bytes, declared, expectMismatch] of cases) {
    let heard: string | undefined;
    const out = await collect(decompress(chunked(bytes, 1), declared, (actual) => (heard = actual)));
    assert.deepEqual(out, data, `declared ${declared}`);
    assert.equal(heard, expectMismatch, `declared ${declared}`);
  }
  // With no bytes to sniff, the label decides: an empty "gzip" blob is a corrupt one.
  assert.deepEqual(await collect(decompress(chunked(Buffer.alloc(0)), "none")), Buffer.alloc(0));
  await assert.rejects(collect(decompress(chunked(Buffer.alloc(0)), "gzip")), (e: unknown) => isWalkError(e, "invalid_argument"));
});
