// The tar reader on header formats the fixtures' USTAR+PAX writer does not produce by default:
// GNU long names, USTAR prefixes, base-256 numbers, PAX globals, raw-byte PAX paths.
import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeEntry, encodeHeader, padding } from "../../../test/fixtures/images.js";
import { readTar, type TarHeader } from "./tar.js";
import { chunked } from "./testing/layers.js";

async function headers(tar: Buffer, chunk = 512): Promise<Array<TarHeader & { content: string }>> {
  const out: Array<TarHeader & { content: string }> = [];
  for await (const { header, body } of readTar(chunked(tar, chunk), { maxExtendedHeaderBytes: 1 << 20 })) {
    const parts: Buffer[] = [];
    for await (const c of body) parts.push(c);
    out.push({ ...header, content: Buffer.concat(parts).toString("latin1") });
  }
  return out;
}

function special(typeflag: string, body: Buffer): Buffer {
  return Buffer.concat([encodeHeader({ name: Buffer.from("././@LongLink"), mode: 0, uid: 0, gid: 0, size: body.length, mtime: 0, typeflag }), body, padding(body.length)]);
}

void test("tar: GNU long names and long link targets, byte for byte", async () => {
  const name = Buffer.concat([Buffer.from("dir/"), Buffer.alloc(150, 0x61), Buffer.from([0xff, 0xfe])]);
  const link = Buffer.alloc(300, 0x62);
  const tar = Buffer.concat([
    special("L", Buffer.concat([name, Buffer.from([0])])),
    special("K", link),
    encodeEntry({ type: "symlink", path: "short", target: "short" }),
    Buffer.alloc(1024),
  ]);
  const [h] = await headers(tar, 100);
  assert.equal(h?.type, "symlink");
  assert.deepEqual(Buffer.from(h?.path ?? "", "latin1"), name);
  assert.deepEqual(Buffer.from(h?.linkname ?? "", "latin1"), link);
});

void test("tar: USTAR prefix, GNU magic without prefix, base-256 sizes and old-style directory names", async () => {
  const withPrefix = encodeHeader({ name: Buffer.from("file"), mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0, typeflag: "0" });
  withPrefix.write("some/prefix", 345, "latin1");
  fixChecksum(withPrefix);
  const gnu = encodeHeader({ name: Buffer.from("gnufile"), mode: 0o600, uid: 0, gid: 0, size: 0, mtime: 0, typeflag: "0" });
  gnu.write("ustar  \0", 257, "latin1");
  gnu.write("ignored", 345, "latin1"); // GNU keeps atime here, not a prefix
  gnu[124] = 0x80; // base-256 size: 3 bytes of data
  gnu.fill(0, 125, 136);
  gnu[135] = 3;
  fixChecksum(gnu);
  const oldDir = encodeHeader({ name: Buffer.from("olddir/"), mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0, typeflag: "\0" });
  const tar = Buffer.concat([withPrefix, gnu, Buffer.from("abc"), padding(3), oldDir, Buffer.alloc(1024)]);
  const hs = await headers(tar, 33);
  assert.deepEqual(hs.map((h) => [h.path, h.type, h.size, h.content]), [
    ["some/prefix/file", "file", 0, ""],
    ["gnufile", "file", 3, "abc"],
    ["olddir/", "dir", 0, ""],
  ]);
});

void test("tar: PAX global records apply to later entries; per-entry records win; raw bytes survive", async () => {
  const rec = (k: string, v: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(` ${k}=`), v, Buffer.from("\n")]);
    let len = body.length + 2;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    return Buffer.concat([Buffer.from(String(len)), body]);
  };
  const globals = Buffer.concat([rec("uid", Buffer.from("4242")), rec("SCHILY.xattr.user.g", Buffer.from([0xff, 0]))]);
  const tar = Buffer.concat([
    special("g", globals),
    encodeEntry({ type: "file", path: "a", content: "" }),
    encodeEntry({ type: "file", path: "b", content: "", pax: { uid: "7", path: Buffer.from([0x63, 0xe9]), mtime: "-1.25" } }),
    Buffer.alloc(1024),
    Buffer.from("trailing garbage after the end of the archive is read but ignored"),
  ]);
  const [a, b] = await headers(tar);
  assert.equal(a?.uid, 4242);
  assert.deepEqual(a?.xattrs.get("user.g"), Buffer.from([0xff, 0]));
  assert.deepEqual([b?.uid, Buffer.from(b?.path ?? "", "latin1"), b?.mtime], [7, Buffer.from([0x63, 0xe9]), { sec: -2, nsec: 750000000 }]);
});

void test("tar: PAX global records cannot pile up beyond the extended header limit", async () => {
  const g = (key: string): Buffer => special("g", Buffer.from(`30 comment.${key}=${"v".repeat(17 - key.length)}\n`));
  const tar = Buffer.concat([g("a"), g("b"), g("c"), g("d"), encodeEntry({ type: "file", path: "x", content: "" }), Buffer.alloc(1024)]);
  const read = async (): Promise<void> => {
    for await (const _ of readTar(chunked(tar), { maxExtendedHeaderBytes: 80 })) void _;
  };
  await assert.rejects(read(), /PAX global headers up to byte \d+ hold more than the limit of 80 bytes/);
});

void test("tar: an unread body is skipped, and a partly read one too", async () => {
  const tar = Buffer.concat([
    encodeEntry({ type: "file", path: "one", content: "1".repeat(3000) }),
    encodeEntry({ type: "file", path: "two", content: "2".repeat(3000) }),
    encodeEntry({ type: "file", path: "three", content: "3" }),
    Buffer.alloc(1024),
  ]);
  const seen: string[] = [];
  for await (const { header, body } of readTar(chunked(tar, 1000), { maxExtendedHeaderBytes: 1024 })) {
    seen.push(header.path);
    if (header.path === "two") for await (const _ of body) break;
  }
  assert.deepEqual(seen, ["one", "two", "three"]);
});

void test("tar: a numeric field that is not octal is a clear error", async () => {
  const h = encodeHeader({ name: Buffer.from("f"), mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0, typeflag: "0" });
  h.write("0009x44\0", 100, "latin1");
  fixChecksum(h);
  await assert.rejects(headers(Buffer.concat([h, Buffer.alloc(1024)])), /tar header field mode is not an octal number/);
});

function fixChecksum(h: Buffer): void {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0"), 148, "latin1");
  h[154] = 0;
}

void test("tar: a checksum summed over signed bytes is accepted, one off either way is not", async () => {
  const entry = (sum: (unsigned: number, high: number) => number): Buffer => {
    const h = encodeHeader({ name: Buffer.from([0x61, 0xe9, 0xff]), mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0, typeflag: "0" });
    h.fill(0x20, 148, 156);
    let unsigned = 0;
    let high = 0;
    for (const b of h) {
      unsigned += b;
      if (b >= 0x80) high++;
    }
    h.write(sum(unsigned, high).toString(8).padStart(6, "0"), 148, "latin1");
    h[154] = 0;
    return Buffer.concat([h, Buffer.alloc(1024)]);
  };
  const [h] = await headers(entry((u, high) => u - 256 * high));
  assert.deepEqual(Buffer.from(h?.path ?? "", "latin1"), Buffer.from([0x61, 0xe9, 0xff]));
  for (const off of [-1, 1]) {
    await assert.rejects(headers(entry((u, high) => u - 256 * high + off)), /bad checksum/);
    await assert.rejects(headers(entry((u) => u + off)), /bad checksum/);
  }
});
