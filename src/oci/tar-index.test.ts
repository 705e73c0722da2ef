import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildTar, encodeHeader } from "../../test/fixtures/images.js";
import { normalizeMemberName, TarIndex } from "./tar-index.js";
import { isWalkError } from "../lib/errors.js";

async function indexOf(tar: Buffer): Promise<{ index: TarIndex; read: (offset: number, size: number) => Promise<string>; done: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "walk-tarindex-"));
  const p = join(dir, "t.tar");
  await writeFile(p, tar);
  const fh = await open(p, "r");
  const done = async (): Promise<void> => {
    await fh.close();
    await rm(dir, { recursive: true, force: true });
  };
  // A tar the index refuses leaves nothing behind either.
  const index = await TarIndex.read(fh, "t.tar").catch(async (err: unknown) => {
    await done();
    throw err;
  });
  return {
    index,
    read: async (offset, size) => {
      const b = Buffer.alloc(size);
      await fh.read(b, 0, size, offset);
      return b.toString();
    },
    done,
  };
}

void test("member names are normalised and never climb out of the archive", () => {
  assert.equal(normalizeMemberName("./a/b/"), "a/b");
  assert.equal(normalizeMemberName("/abs/x"), "abs/x");
  assert.equal(normalizeMemberName("a/../b"), "b");
  assert.equal(normalizeMemberName("../x"), undefined);
  assert.equal(normalizeMemberName("a/../../x"), undefined);
});

void test("PAX long names, ./ prefixes, hardlinks and later duplicates resolve to the right data", async () => {
  const long = `${"d/".repeat(80)}layer.tar`;
  const t = await indexOf(
    buildTar([
      { type: "file", path: "./first", content: "old" },
      { type: "file", path: long, content: "long-name data" },
      { type: "hardlink", path: "hard", target: long },
      { type: "file", path: "first", content: "new" },
      { type: "file", path: "../escape", content: "x" },
      { type: "dir", path: "dir/" },
    ]),
  );
  const m = t.index.resolveFile(long)!;
  assert.equal(await t.read(m.offset, m.size), "long-name data");
  assert.equal(t.index.resolveFile("hard"), m);
  const first = t.index.resolveFile("first")!;
  assert.equal(await t.read(first.offset, first.size), "new");
  assert.equal(t.index.resolveFile("escape"), undefined);
  assert.throws(() => t.index.resolveFile("dir"), (err: unknown) => isWalkError(err, "invalid_argument") && /dir is not a regular file/.test(err.message));
  await t.done();
});

void test("symlink loops are cut off, and a corrupt checksum names its offset", async () => {
  const t = await indexOf(buildTar([{ type: "symlink", path: "a", target: "b" }, { type: "symlink", path: "b", target: "a" }]));
  assert.throws(() => t.index.resolveFile("a"), /too many levels of links/);
  await t.done();
  const header = encodeHeader({ name: Buffer.from("x"), mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0, typeflag: "0", checksum: 1 });
  await assert.rejects(indexOf(Buffer.concat([buildTar([{ type: "file", path: "ok", content: "1" }], { trailer: false }), header])), /bad header checksum at offset 1024/);
});
