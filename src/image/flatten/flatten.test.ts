// OCI layer semantics on the tree level: what the flattened tree looks like for each rule.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { TarEntry } from "../../../test/fixtures/images.js";
import { describeTree, walkTree } from "./testing/memory-sink.js";
import { flat } from "./testing/layers.js";

const f = (path: string, content: string, extra: Partial<Extract<TarEntry, { type: "file" }>> = {}): TarEntry => ({ type: "file", path, content, ...extra });
const d = (path: string, extra: Partial<Extract<TarEntry, { type: "dir" }>> = {}): TarEntry => ({ type: "dir", path, ...extra });

function paths(root: Parameters<typeof walkTree>[0]): string[] {
  return [...walkTree(root).keys()].sort();
}

void test("flatten: every entry type keeps its metadata, bytes and names", async () => {
  const cap = Buffer.from("0100000200200000000000000000000000000000", "hex");
  const latin = Buffer.from([0x6e, 0xe4, 0x6d, 0x65]); // "n\xe4me": not UTF-8
  const long = "n".repeat(255);
  const { root, sink } = await flat(
    [
      [
        d("./", { mode: 0o755, mtime: 1 }),
        d("./tmp/", { mode: 0o1777 }),
        f("./bin/ping", "ping", { mode: 0o4755, uid: 0, gid: 0, xattrs: { "security.capability": cap } }),
        f("./bin/sg", "sg", { mode: 0o2711, uid: 5, gid: 6, mtime: 1234567890 }),
        f("./empty", ""),
        d("./emptydir/", { mode: 0o700, uid: 1000, gid: 1000 }),
        { type: "symlink", path: "./rel", target: "bin/ping" },
        { type: "symlink", path: "./abs", target: "/etc/passwd" },
        { type: "symlink", path: "./dangling", target: "../../nowhere" },
        { type: "char", path: "./dev/null", major: 1, minor: 3, mode: 0o666 },
        { type: "block", path: "./dev/sda", major: 8, minor: 0, mode: 0o660, gid: 6 },
        { type: "fifo", path: "./run/fifo", mode: 0o600 },
        f(Buffer.concat([Buffer.from("./"), latin]) as unknown as string, "latin1"),
        f(`./${long}`, "long"),
        f(`./deep/${"x/".repeat(60)}leaf`, "deep"),
        f("./big-uid", "u", { uid: 3_000_000_000, gid: 4_000_000_000, pax: { mtime: "1700000000.5" } }),
      ],
    ],
    { chunk: 7 },
  );
  const tree = walkTree(root);
  const at = (p: string): NonNullable<ReturnType<typeof tree.get>> => {
    const n = tree.get(p);
    assert.ok(n, `missing ${p}`);
    return n;
  };
  assert.equal(root.mtime.sec, 1);
  assert.equal(at("/tmp").mode, 0o1777);
  assert.equal(at("/bin/ping").mode, 0o4755);
  assert.deepEqual(at("/bin/ping").xattrs.get("security.capability"), cap);
  assert.deepEqual([at("/bin/sg").mode, at("/bin/sg").uid, at("/bin/sg").gid, at("/bin/sg").mtime.sec], [0o2711, 5, 6, 1234567890]);
  assert.equal(at("/empty").data?.size, 0);
  assert.equal(at("/emptydir").children?.size, 0);
  assert.deepEqual(at("/emptydir").uid, 1000);
  assert.equal(at("/rel").target?.toString(), "bin/ping");
  assert.equal(at("/abs").target?.toString(), "/etc/passwd");
  assert.equal(at("/dangling").target?.toString(), "../../nowhere");
  assert.deepEqual([at("/dev/null").kind, at("/dev/null").rdev], ["char", { major: 1, minor: 3 }]);
  assert.deepEqual([at("/dev/sda").kind, at("/dev/sda").rdev, at("/dev/sda").mode], ["block", { major: 8, minor: 0 }, 0o660]);
  assert.equal(at("/run/fifo").kind, "fifo");
  assert.equal(sink.content(at(`/${latin.toString("latin1")}`)).toString(), "latin1");
  assert.equal(sink.content(at(`/${long}`)).toString(), "long");
  assert.equal(sink.content(at(`/deep/${"x/".repeat(60)}leaf`)).toString(), "deep");
  assert.deepEqual([at("/big-uid").uid, at("/big-uid").gid, at("/big-uid").mtime], [3_000_000_000, 4_000_000_000, { sec: 1700000000, nsec: 500000000 }]);
  // implicit parents: 0755 root
  assert.deepEqual([at("/bin").mode, at("/bin").uid, at("/dev").kind], [0o755, 0, "dir"]);
});

void test("flatten: later layers win; a dir over a dir keeps its children and takes the new metadata", async () => {
  const { root, sink } = await flat([
    [d("etc/", { mode: 0o755 }), f("etc/a", "one"), f("etc/b", "b")],
    [d("etc/", { mode: 0o750, uid: 7 }), f("etc/a", "two")],
  ]);
  const t = walkTree(root);
  assert.deepEqual(paths(root), ["/", "/etc", "/etc/a", "/etc/b"]);
  assert.deepEqual([t.get("/etc")?.mode, t.get("/etc")?.uid], [0o750, 7]);
  assert.equal(sink.content(t.get("/etc/a") as never).toString(), "two");
  assert.deepEqual(sink.released.map(String), ["one"]);
});

void test("flatten: a directory replaced by a file, and a file by a directory", async () => {
  const { root, sink } = await flat([
    [d("a/"), f("a/x", "x"), d("a/sub/"), f("a/sub/y", "y"), f("b", "b-file")],
    [f("a", "now a file"), d("b/"), f("b/z", "z")],
  ]);
  assert.deepEqual(paths(root), ["/", "/a", "/b", "/b/z"]);
  assert.equal(walkTree(root).get("/a")?.kind, "file");
  assert.deepEqual(sink.released.map(String).sort(), ["b-file", "x", "y"]);
});

void test("flatten: .wh.NAME deletes a file and a whole subtree of lower layers, and never appears", async () => {
  const { root, sink } = await flat([
    [f("keep", "k"), f("gone", "g"), d("dir/"), d("dir/sub/"), f("dir/sub/deep", "deep")],
    [
      { type: "whiteout", path: "gone" },
      { type: "whiteout", path: "dir" },
      { type: "whiteout", path: "never-existed" },
      { type: "whiteout", path: "no/such/parent" },
    ],
  ]);
  assert.deepEqual(paths(root), ["/", "/keep"]);
  assert.deepEqual(sink.released.map(String).sort(), ["deep", "g"]);
  assert.equal(sink.live.size, 1);
});

void test("flatten: a whiteout hides only lower layers, whatever its position in the layer", async () => {
  const { root, sink } = await flat([
    [d("a/"), f("a/lower", "lower"), f("x", "old x"), d("m/"), f("m/lower", "m-lower")],
    [
      f("x", "new x"),
      { type: "whiteout", path: "x" },
      f("a/new", "new"),
      { type: "whiteout", path: "a" },
      f("m/mine", "mine"),
      { type: "whiteout", path: "m" },
      d("m/", { mode: 0o700 }),
    ],
  ]);
  const t = walkTree(root);
  assert.deepEqual(paths(root), ["/", "/a", "/a/new", "/m", "/m/mine", "/x"]);
  assert.equal(sink.content(t.get("/x") as never).toString(), "new x");
  assert.equal(t.get("/m")?.mode, 0o700);
  // a's lower metadata is gone with it: what remains is the implicit directory of a/new
  assert.deepEqual([t.get("/a")?.mode, t.get("/a")?.mtime.sec], [0o755, 0]);
  assert.deepEqual(sink.released.map(String).sort(), ["lower", "m-lower", "old x"]);
});

void test("flatten: an opaque directory hides all lower descendants and keeps this layer's, in either order", async () => {
  const lower: TarEntry[] = [d("a/"), d("a/b/"), d("a/b/c/"), f("a/b/c/bar", "bar"), f("a/top", "top"), d("other/"), f("other/o", "o")];
  const before = await flat([lower, [d("a/"), { type: "opaque", path: "a" }, d("a/b/"), d("a/b/c/"), f("a/b/c/foo", "foo")]]);
  const after = await flat([lower, [d("a/"), d("a/b/"), d("a/b/c/"), f("a/b/c/foo", "foo"), { type: "opaque", path: "a" }]]);
  const want = ["/", "/a", "/a/b", "/a/b/c", "/a/b/c/foo", "/other", "/other/o"];
  assert.deepEqual(paths(before.root), want);
  assert.deepEqual(paths(after.root), want);
  assert.deepEqual(describeTree(before.root, before.sink), describeTree(after.root, after.sink));
  assert.deepEqual(after.sink.released.map(String).sort(), ["bar", "top"]);
});

void test("flatten: hardlinks share one node across and within layers; data lives until the last link goes", async () => {
  const { root, sink } = await flat([
    [f("bin/busybox", "bb", { mode: 0o755 }), { type: "hardlink", path: "bin/sh", target: "bin/busybox" }],
    [{ type: "hardlink", path: "usr/bin/ls", target: "./bin/busybox" }, { type: "whiteout", path: "bin/busybox" }],
    [{ type: "whiteout", path: "bin/sh" }],
  ]);
  const t = walkTree(root);
  assert.deepEqual(paths(root), ["/", "/bin", "/usr", "/usr/bin", "/usr/bin/ls"]);
  assert.equal(sink.content(t.get("/usr/bin/ls") as never).toString(), "bb");
  assert.equal(sink.released.length, 0);

  const two = await flat([[f("a", "A"), { type: "hardlink", path: "b", target: "a" }, { type: "hardlink", path: "c", target: "b" }]]);
  const t2 = walkTree(two.root);
  assert.ok(t2.get("/a") === t2.get("/b") && t2.get("/b") === t2.get("/c"));
  const replaced = await flat([[f("a", "A"), { type: "hardlink", path: "b", target: "a" }], [f("a", "A2"), f("b", "B2")]]);
  assert.deepEqual(replaced.sink.released.map(String), ["A"]);
});

void test("flatten: duplicate directories in one layer take the last metadata; whiteout markers never reach the tree", async () => {
  const { root } = await flat([
    [d("d/", { mode: 0o700 }), f("d/x", "x"), d("d/", { mode: 0o711 }), f(".wh..wh.plnk", "")],
    [{ type: "opaque", path: "" }, f("new", "n")],
  ]);
  assert.deepEqual(paths(root), ["/", "/new"]);
  for (const p of paths(root)) assert.ok(!p.includes(".wh."), p);
  const again = await flat([[d("d/", { mode: 0o700 }), f("d/x", "x"), d("d/", { mode: 0o711 })]]);
  assert.equal(walkTree(again.root).get("/d")?.mode, 0o711);
  assert.deepEqual(paths(again.root), ["/", "/d", "/d/x"]);
});

void test("flatten: leading slashes, ./ and inner .. are normalised lexically", async () => {
  const { root } = await flat([[f("/abs", "a"), f("./dot/./x", "x"), f("a/b/../c", "c"), f("//double//slash", "s")]]);
  assert.deepEqual(paths(root), ["/", "/a", "/a/c", "/abs", "/dot", "/dot/x", "/double", "/double/slash"]);
});

void test("flatten: xattrs outside user/trusted/security are dropped, the rest kept byte for byte", async () => {
  const { root } = await flat([[f("x", "", { xattrs: { "user.a": Buffer.from([0, 255]), "com.apple.quarantine": "q", "trusted.t": "t" } })]]);
  assert.deepEqual([...(walkTree(root).get("/x")?.xattrs.keys() ?? [])].sort(), ["trusted.t", "user.a"]);
});

void test("flatten: gzip and zstd layers stream the same tree as uncompressed ones", async () => {
  const big = Buffer.alloc(3 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  const entries: TarEntry[] = [f("big", big as unknown as string), f("small", "s"), { type: "symlink", path: "l", target: "big" }];
  const none = await flat([{ entries, compression: "none" }]);
  const gz = await flat([{ entries, compression: "gzip" }]);
  const zs = await flat([{ entries, compression: "zstd" }], { chunk: 1000 });
  assert.deepEqual(describeTree(gz.root, gz.sink), describeTree(none.root, none.sink));
  assert.deepEqual(describeTree(zs.root, zs.sink), describeTree(none.root, none.sink));
  assert.deepEqual(zs.sink.content(walkTree(zs.root).get("/big") as never), big);
});
