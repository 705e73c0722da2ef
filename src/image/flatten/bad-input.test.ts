// Hostile and broken layers: each gets a clear error with a stable code that names the layer and
// the entry. (That nothing is published on such an error is checked by the build tests.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildLayer, buildTar, encodeHeader, type TarEntry } from "../../../test/fixtures/images.js";
import { isWalkError, type ErrorCode } from "../../lib/errors.js";
import { flattenLayers, type FlattenLimits } from "./index.js";
import { MediaTypes } from "../../../test/fixtures/images.js";
import { MemorySink } from "./testing/memory-sink.js";
import { flat, layerInput } from "./testing/layers.js";

async function fails(layers: TarEntry[][], code: ErrorCode, message: RegExp, limits?: Partial<FlattenLimits>): Promise<void> {
  await assert.rejects(flat(layers, limits ? { limits } : {}), (err: unknown) => {
    assert.ok(isWalkError(err), `not a WalkError: ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    assert.match(err.message, /^layer \d+ \(sha256:[0-9a-f]{64}\): /);
    return true;
  });
}

const file = (path: string, content = "x"): TarEntry => ({ type: "file", path, content });

void test("bad input: path traversal in names", async () => {
  await fails([[file("../escape")]], "invalid_argument", /entry "\.\.\/escape" escapes the root/);
  await fails([[file("a/../../escape")]], "invalid_argument", /escapes the root/);
  await fails([[file("./../x")]], "invalid_argument", /escapes the root/);
});

void test("bad input: path traversal and bad targets in hardlinks", async () => {
  await fails([[file("a"), { type: "hardlink", path: "b", target: "../../etc/shadow" }]], "invalid_argument", /hardlink target of "b" "\.\.\/\.\.\/etc\/shadow" escapes the root/);
  await fails([[{ type: "hardlink", path: "b", target: "missing" }]], "invalid_argument", /hardlink "b" points at "missing", which does not exist/);
  await fails([[{ type: "dir", path: "d/" }, { type: "hardlink", path: "b", target: "d" }]], "invalid_argument", /points at the directory "d"/);
  await fails([[{ type: "hardlink", path: "b", target: "./" }]], "invalid_argument", /points at the directory \//);
});

void test("bad input: a symlink, then a write through it (same layer, later layer, hardlink, whiteout)", async () => {
  const link: TarEntry = { type: "symlink", path: "etc", target: "/host/etc" };
  await fails([[link, file("etc/passwd")]], "invalid_argument", /entry "etc\/passwd" would be written through the symlink "\/etc"/);
  await fails([[link], [file("etc/cron.d/evil")]], "invalid_argument", /through the symlink "\/etc"/);
  await fails([[link], [{ type: "dir", path: "etc/sub/" }]], "invalid_argument", /through the symlink/);
  await fails([[link, file("x")], [{ type: "hardlink", path: "y", target: "etc/passwd" }]], "invalid_argument", /through the symlink "\/etc"/);
  await fails([[link], [{ type: "whiteout", path: "etc/passwd" }]], "invalid_argument", /through the symlink "\/etc"/);
  await fails([[link], [{ type: "opaque", path: "etc" }]], "invalid_argument", /through the symlink "\/etc"/);
});

void test("bad input: a whiteout outside the root, of /, and without a name", async () => {
  await fails([[{ type: "whiteout", path: "../x" }]], "invalid_argument", /escapes the root/);
  await fails([[file(".wh..", "")]], "invalid_argument", /whiteout "\.wh\.\." would delete \//);
  await fails([[file("./.wh.", "")]], "invalid_argument", /has no name after "\.wh\."/);
  await fails([[file("a/.wh...", "")]], "invalid_argument", /names "\.\."/);
  await fails([[file(".wh.x/y")]], "invalid_argument", /inside a whiteout name/);
});

void test("bad input: duplicate entries in one layer are refused (directories may repeat)", async () => {
  await fails([[file("a", "1"), file("./a", "2")]], "invalid_argument", /entry "\/a" appears twice in the layer/);
  await fails([[file("a"), { type: "dir", path: "a/" }]], "invalid_argument", /appears twice/);
  await fails([[{ type: "dir", path: "a/" }, file("a")]], "invalid_argument", /appears twice/);
  await fails([[file("a"), { type: "symlink", path: "b", target: "a" }, { type: "hardlink", path: "b", target: "a" }]], "invalid_argument", /"\/b" appears twice/);
  await fails([[{ type: "symlink", path: "/", target: "x" }]], "invalid_argument", /names the root but is not a directory/);
});

async function failsRaw(data: Buffer, mediaType: string, diffId: string, code: ErrorCode, message: RegExp): Promise<void> {
  const layer = { digest: `sha256:${"ab".repeat(32)}`, diffId, mediaType, open: async () => (async function* () { yield data; })() };
  await assert.rejects(flattenLayers([layer], new MemorySink()), (err: unknown) => {
    assert.ok(isWalkError(err, code), String(err));
    assert.match(err.message, message);
    assert.match(err.message, /layer 1 \(sha256:abab/);
    return true;
  });
}

void test("bad input: truncated layers (uncompressed, gzip, zstd) name the layer", async () => {
  const entries: TarEntry[] = [file("a", "A".repeat(5000)), file("b", "B".repeat(70000))];
  for (const compression of ["none", "gzip", "zstd"] as const) {
    const l = await buildLayer({ entries, compression });
    const cut = l.data.subarray(0, Math.floor(l.data.length / 2));
    await failsRaw(cut, l.mediaType, l.diffId, "invalid_argument", compression === "none" ? /the layer is truncated: it ends inside the data of the tar entry/ : /stream is truncated or corrupt/);
  }
  const headerOnly = buildTar([file("a", "A".repeat(5000))], { trailer: false }).subarray(0, 700);
  await failsRaw(headerOnly, MediaTypes.ociLayer, `sha256:${"0".repeat(64)}`, "invalid_argument", /truncated/);
});

void test("bad input: a layer whose uncompressed digest is not its diff_id", async () => {
  const l = await buildLayer({ entries: [file("a")] });
  const wrong = `sha256:${"1".repeat(64)}`;
  const sink = new MemorySink();
  await assert.rejects(flattenLayers([layerInput(l, { diffId: wrong })], sink), (err: unknown) => {
    assert.ok(isWalkError(err, "digest_mismatch"));
    assert.match(err.message, new RegExp(`layer 1 \\(${l.digest}\\): the uncompressed layer hashes to ${l.diffId}, but the image config's diff_ids say ${wrong}`));
    return true;
  });
  await assert.rejects(flattenLayers([layerInput(l, { diffId: "md5:x" })], sink), /is not a sha256 digest/);
});

void test("bad input: corrupt headers, unsupported entry types and media types", async () => {
  const good = buildTar([file("a")]);
  const badSum = Buffer.from(good);
  badSum[0] = 0x62; // name changes, checksum does not
  await failsRaw(badSum, MediaTypes.ociLayer, `sha256:${"0".repeat(64)}`, "invalid_argument", /bad checksum/);
  const sparse = Buffer.concat([encodeHeader({ name: Buffer.from("s"), mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0, typeflag: "S" }), Buffer.alloc(1024)]);
  await failsRaw(sparse, MediaTypes.ociLayer, `sha256:${"0".repeat(64)}`, "unsupported", /has type "S"/);
  await failsRaw(good, "application/vnd.oci.image.config.v1+json", `sha256:${"0".repeat(64)}`, "unsupported", /unsupported layer media type "application\/vnd.oci.image.config.v1\+json"/);
  await fails([[{ type: "file", path: "p", content: "", pax: { path: Buffer.from("a\0b") } }]], "invalid_argument", /contains a NUL byte/);
  await fails([[{ type: "symlink", path: "s", target: "" }]], "invalid_argument", /symlink "\/s" has an empty target/);
  await fails([[{ type: "file", path: "g", content: "", pax: { "GNU.sparse.major": "1" } }]], "unsupported", /GNU sparse/);
});

void test("bad input: every bound is enforced, naming the layer and the entry", async () => {
  await fails([[file("a", "x".repeat(4000))]], "size_exceeded", /more than the limit of 2048 uncompressed bytes/, { maxTotalBytes: 2048 });
  await fails([[file("a"), file("b"), file("c")]], "size_exceeded", /entry "c" is one more than the limit of 2 entries/, { maxEntries: 2 });
  await fails([[file("d1/d2/f")]], "size_exceeded", /entry "\/d1\/d2\/" is one more than the limit of 2 entries/, { maxEntries: 2 });
  await fails([[file(`${"p/".repeat(40)}f`)]], "size_exceeded", /is 81 bytes long, more than the limit of 64/, { maxPathBytes: 64 });
  await fails([[file("a/b/c/d")]], "size_exceeded", /is 4 levels deep, more than the limit of 3/, { maxDepth: 3 });
  await fails([[file(`a/${"n".repeat(256)}`)]], "size_exceeded", /has a component of 256 bytes, more than the limit of 255/);
  await fails([[{ type: "symlink", path: "s", target: "t".repeat(100) }]], "size_exceeded", /symlink "\/s" has a target of 100 bytes, more than the limit of 50/, { maxSymlinkBytes: 50 });
  await fails([[{ type: "file", path: "x", content: "", xattrs: { "user.a": "1", "user.b": "2" } }]], "size_exceeded", /entry "\/x" has more extended attributes than the limit of 1/, { maxXattrsPerEntry: 1 });
  await fails([[{ type: "file", path: "x", content: "", xattrs: { "user.a": "v".repeat(100) } }]], "size_exceeded", /entry "\/x" has more extended attributes/, { maxXattrBytesPerEntry: 64 });
  await fails([[{ type: "file", path: "x", content: "", pax: { comment: "c".repeat(600) } }]], "size_exceeded", /PAX extended header at byte 0 is \d+ bytes, more than the limit of 512/, { maxExtendedHeaderBytes: 512 });
  await fails([[{ type: "hardlink", path: "h", target: "t".repeat(70) }]], "size_exceeded", /hardlink target of "h" .* more than the limit of 64/, { maxPathBytes: 64 });
});
