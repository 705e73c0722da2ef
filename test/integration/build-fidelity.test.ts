// Fidelity of app disks, end to end and as root: build a disk from a hostile-but-valid image,
// check it with e2fsck, read it back with debugfs and through a read-only loop mount, and compare
// the mounted tree with what the peer `umoci unpack` makes of the same OCI layout: same paths,
// types, owners, modes, mtimes, link targets, device numbers, xattrs, content hashes, hardlinks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { lstatSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { buildImage, encodeHeader, padding, writeOciLayout, type BuiltImage, type TarEntry } from "../fixtures/images.js";
import { buildAppDisk } from "../../src/image/build.js";
import { layerInput } from "../../src/image/flatten/testing/layers.js";
import { assertFsckClean, debugfs } from "../../src/image/build/testing/disk-tools.js";
import { scratchWithMountPoint } from "../harness/mount-dir.js";

const asRoot = process.getuid?.() === 0;
const skip = asRoot ? false : "needs root (loop mount, umoci unpack with owners and devices)";

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 256 << 20 });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

const CAP_NET_BIND_SERVICE = Buffer.from("0100000200040000000000000000000000000000", "hex");
const LATIN1_NAME = Buffer.from([0x6e, 0xe4, 0x6d, 0x65]);
const LONG_LATIN1 = Buffer.concat([Buffer.from("etc/"), Buffer.alloc(120, 0x6c), Buffer.from([0xff, 0xfe])]);

const DEEP_LEAF = `/deep/${Array.from({ length: 119 }, (_, i) => `d${i}`).join("/")}/leaf`;

async function richImage(): Promise<BuiltImage> {
  const dir = (path: string, extra: Partial<Extract<TarEntry, { type: "dir" }>> = {}): TarEntry => ({ type: "dir", path, mode: 0o755, ...extra });
  const file = (path: string, content: string | Buffer, extra: Partial<Extract<TarEntry, { type: "file" }>> = {}): TarEntry => ({ type: "file", path, content, ...extra });
  const deep: TarEntry[] = [];
  let p = "deep";
  for (let i = 0; i < 120; i++) {
    deep.push(dir(`${p}/`));
    p += `/d${i}`;
  }
  deep.push(file(`${p.slice(0, p.lastIndexOf("/"))}/leaf`, "deepest"));
  const sparse = Buffer.concat([Buffer.from("head"), Buffer.alloc(3 << 20), Buffer.from("tail")]);
  const many: TarEntry[] = [dir("many/")];
  for (let i = 0; i < 50_000; i++) many.push(file(`many/f${i}`, i % 1000 === 0 ? `content ${i}` : ""));
  return buildImage({
    config: { Cmd: ["/bin/app"] },
    layers: [
      {
        entries: [
          dir("./", { mtime: 1_600_000_000 }),
          dir("bin/"),
          file("bin/busybox", "busybox binary", { mode: 0o755 }),
          { type: "hardlink", path: "bin/sh", target: "bin/busybox" },
          { type: "hardlink", path: "bin/ls", target: "bin/busybox" },
          file("bin/ping", "ping", { mode: 0o4755, xattrs: { "security.capability": CAP_NET_BIND_SERVICE } }),
          file("bin/wall", "wall", { mode: 0o2755, gid: 5 }),
          dir("tmp/", { mode: 0o1777 }),
          dir("etc/", { mtime: 1_500_000_000 }),
          file("etc/owned", "owned", { uid: 1000, gid: 1001, mode: 0o640, xattrs: { "user.bin": Buffer.from([0xff, 0x00, 0x80]), "user.text": "hello" } }),
          file("etc/nsec", "nsec", { pax: { mtime: "1700000000.123456789" } }),
          file("etc/remove-me", "bye"),
          dir("etc/opaque/"),
          file("etc/opaque/lower", "lower"),
          { type: "symlink", path: "etc/rel", target: "owned" },
          { type: "symlink", path: "etc/abs", target: "/etc/owned" },
          { type: "symlink", path: "etc/dangling", target: "../nowhere/at/all" },
          { type: "symlink", path: "etc/long-target", target: `/${"t".repeat(200)}` },
          file("etc/empty", ""),
          dir("etc/empty-dir/", { mode: 0o700, uid: 7, gid: 8 }),
          file(`etc/${"n".repeat(255)}`, "255"),
          { type: "file", path: Buffer.concat([Buffer.from("etc/"), LATIN1_NAME]), content: "latin1" },
          { type: "file", path: LONG_LATIN1, content: "long latin1 via PAX" },
          dir("dev/"),
          { type: "char", path: "dev/null", major: 1, minor: 3, mode: 0o666 },
          { type: "char", path: "dev/bigminor", major: 300, minor: 70000, mode: 0o600 },
          { type: "block", path: "dev/sda", major: 8, minor: 0, mode: 0o660, gid: 6 },
          { type: "fifo", path: "dev/fifo", mode: 0o620 },
          file("sparse", sparse),
          ...deep,
        ],
      },
      {
        entries: [
          { type: "whiteout", path: "etc/remove-me" },
          { type: "opaque", path: "etc/opaque" },
          file("etc/opaque/upper", "upper"),
          { type: "hardlink", path: "etc/busybox-link", target: "bin/busybox" },
          file("bin/ls", "ls replaced, link broken", { mode: 0o755 }),
        ],
        compression: "none", // umoci 0.4.7 cannot read zstd; zstd is covered by the flatten tests
      },
      { entries: many },
    ],
  });
}

interface Snapshot {
  entries: Map<string, string>;
  /** Sorted groups of paths sharing one inode (non-directories with nlink > 1). */
  hardlinks: string[];
}

/** lstat-only walk of `root` keeping raw name bytes; `skip` are top-level names to leave out. */
function snapshot(root: string, skipTop: readonly string[] = []): Snapshot {
  const entries = new Map<string, string>();
  const inodes = new Map<number, string[]>();
  const visit = (rel: Buffer): void => {
    const abs = Buffer.concat([Buffer.from(root), rel]);
    const st = lstatSync(abs, { bigint: true });
    const key = rel.length === 0 ? "/" : rel.toString("latin1");
    const mode = Number(st.mode & 0o7777n).toString(8).padStart(4, "0");
    let desc = `${mode} ${st.uid}:${st.gid} mtime=${st.mtimeNs}`;
    if (st.isFile()) desc = `file ${desc} size=${st.size} sha256=${createHash("sha256").update(readFileSync(abs)).digest("hex")}`;
    else if (st.isSymbolicLink()) desc = `symlink ${desc} -> ${readlinkSync(abs, { encoding: "buffer" }).toString("latin1")}`;
    else if (st.isCharacterDevice() || st.isBlockDevice()) desc = `${st.isCharacterDevice() ? "char" : "block"} ${desc} rdev=${st.rdev}`;
    else if (st.isFIFO()) desc = `fifo ${desc}`;
    else if (st.isDirectory()) desc = `dir ${desc}`;
    entries.set(key, desc);
    if (!st.isDirectory() && st.nlink > 1n) inodes.set(Number(st.ino), [...(inodes.get(Number(st.ino)) ?? []), key]);
    if (st.isDirectory()) {
      for (const name of readdirSync(abs, { encoding: "buffer" })) {
        if (rel.length === 0 && skipTop.includes(name.toString("latin1"))) continue;
        visit(Buffer.concat([rel, Buffer.from("/"), name]));
      }
    }
  };
  visit(Buffer.alloc(0));
  return { entries, hardlinks: [...inodes.values()].map((g) => g.sort().join(" = ")).sort() };
}

/** Every xattr below `root` as getfattr prints it (names escaped, values hex), one block per file, sorted. */
function xattrDump(root: string, skipTop: readonly string[]): string[] {
  const out = run("getfattr", ["-R", "-P", "-h", "-d", "-m", "-", "-e", "hex", "--absolute-names", root]);
  return out
    .split("\n\n")
    .map((b) => b.trim().replace(`# file: ${root}`, "# file: "))
    .filter((b) => b !== "" && !skipTop.some((s) => b.startsWith(`# file: /${s}`)))
    .sort();
}

void test("build fidelity: the disk is the image, as e2fsck, debugfs, a loop mount and umoci see it", { skip, timeout: 600_000 }, async (t) => {
  const { work, mnt } = scratchWithMountPoint(t, "walk-fidelity-");
  const image = await richImage();
  const disk = await buildAppDisk({ layers: image.layers.map((l) => layerInput(l)), imageDigest: image.digest, config: image.configJson, outDir: join(work, "disks") });
  assertFsckClean(disk.path);

  // debugfs: shared inodes and link counts, holes, devices, xattrs straight from the disk.
  const stat = (p: string): string => debugfs(disk.path, `stat "${p}"`).toString("latin1");
  const inodeOf = (p: string): string => /Inode: (\d+)/.exec(stat(p))?.[1] ?? "none";
  assert.equal(inodeOf("/bin/busybox"), inodeOf("/bin/sh"));
  assert.equal(inodeOf("/bin/busybox"), inodeOf("/etc/busybox-link"));
  assert.notEqual(inodeOf("/bin/busybox"), inodeOf("/bin/ls"));
  assert.match(stat("/bin/busybox"), /Links: 3/);
  assert.match(stat("/sparse"), /Size: 3145736\b/);
  assert.match(stat("/sparse"), /Blockcount: (8|16)\b/, "the 3 MiB of zeros must be a hole");
  assert.match(debugfs(disk.path, `ea_list /bin/ping`).toString("latin1"), /security\.capability/);
  assert.match(stat("/dev/sda"), /Device major\/minor number: 08:00/);

  // The loop mount against umoci's unpack of the same OCI layout.
  run("mount", ["-o", "loop,ro,noload", disk.path, mnt]);
  const layout = join(work, "layout");
  await writeOciLayout(layout, [{ image, tag: "latest" }]);
  run("umoci", ["unpack", "--image", `${layout}:latest`, join(work, "bundle")]);
  const peerRoot = join(work, "bundle", "rootfs");
  const ours = snapshot(mnt, ["walk", "lost+found"]);
  const peer = snapshot(peerRoot);
  const diff = [...new Set([...ours.entries.keys(), ...peer.entries.keys()])]
    .filter((k) => ours.entries.get(k) !== peer.entries.get(k))
    .slice(0, 20)
    .map((k) => `${JSON.stringify(k)}\n  walk:  ${ours.entries.get(k)}\n  umoci: ${peer.entries.get(k)}`);
  assert.deepEqual(diff, [], `walk and umoci disagree:\n${diff.join("\n")}`);
  assert.equal(ours.entries.size, peer.entries.size);
  assert.deepEqual(ours.hardlinks, peer.hardlinks);
  assert.deepEqual(xattrDump(mnt, ["walk", "lost+found"]), xattrDump(peerRoot, []));

  // Spot checks against the image itself, so a bug shared with the peer cannot hide.
  const e = ours.entries;
  assert.match(e.get("/bin/ping") ?? "", /^file 4755 0:0 /);
  assert.match(e.get("/bin/wall") ?? "", /^file 2755 0:5 /);
  assert.match(e.get("/tmp") ?? "", /^dir 1777 /);
  assert.match(e.get("/etc/owned") ?? "", /^file 0640 1000:1001 /);
  assert.match(e.get("/etc/nsec") ?? "", /mtime=1700000000123456789 /);
  assert.match(e.get("/etc/dangling") ?? "", / -> \.\.\/nowhere\/at\/all$/);
  assert.ok(e.has(`/etc/${LATIN1_NAME.toString("latin1")}`) && e.has(`/${LONG_LATIN1.toString("latin1")}`));
  assert.ok(e.has(`/etc/${"n".repeat(255)}`));
  assert.ok(!e.has("/etc/remove-me") && !e.has("/etc/opaque/lower") && e.has("/etc/opaque/upper"));
  assert.equal([...e.keys()].filter((k) => k.startsWith("/many/")).length, 50_000);
  assert.equal([...e.keys()].filter((k) => k.includes(".wh.")).length, 0);
  assert.match(e.get(DEEP_LEAF) ?? "", /^file \S+ 0:0 .* size=7 /);
});

/** A one-entry uncompressed layer holding a file of `size` bytes that are zero except the last 4. */
function hugeSparseLayer(size: number): { open: () => Promise<AsyncIterable<Uint8Array>>; size: number } {
  const header = encodeHeader({ name: Buffer.from("huge"), mode: 0o644, uid: 0, gid: 0, size, mtime: 1_700_000_000, typeflag: "0" });
  const zeros = Buffer.alloc(1 << 20);
  async function* stream(): AsyncGenerator<Uint8Array, void, undefined> {
    yield header;
    let left = size - 4;
    while (left > 0) {
      const n = Math.min(left, zeros.length);
      yield zeros.subarray(0, n);
      left -= n;
    }
    yield Buffer.from("END!");
    yield padding(size);
    yield Buffer.alloc(1024);
  }
  return { open: async () => stream(), size };
}

void test("build fidelity: a 1 GiB+ sparse file streams through and stays sparse on the disk", { skip, timeout: 600_000 }, async (t) => {
  const { work, mnt } = scratchWithMountPoint(t, "walk-huge-");
  const size = 2 ** 30 + 12345;
  const layer = hugeSparseLayer(size);
  const hash = createHash("sha256");
  for await (const c of await layer.open()) hash.update(c);
  const diffId = `sha256:${hash.digest("hex")}`;
  const digest = `sha256:${"0".repeat(63)}1`;
  const disk = await buildAppDisk({
    layers: [{ digest, diffId, mediaType: "application/vnd.oci.image.layer.v1.tar", open: layer.open }],
    imageDigest: `sha256:${"e".repeat(64)}`,
    config: { architecture: "amd64", os: "linux", config: { Cmd: ["/x"] }, rootfs: { type: "layers", diff_ids: [diffId] } },
    outDir: join(work, "disks"),
  });
  assert.ok(disk.sizeBytes < 64 << 20, `the disk of a sparse 1 GiB file should be small, it is ${disk.sizeBytes} bytes`);
  assertFsckClean(disk.path);
  // A new config is a clone of the base disk: it must keep the base disk's own holes too.
  const derived = await buildAppDisk({
    layers: [{ digest, diffId, mediaType: "application/vnd.oci.image.layer.v1.tar", open: layer.open }],
    imageDigest: `sha256:${"e".repeat(64)}`,
    config: { architecture: "amd64", os: "linux", config: { Cmd: ["/x"] }, rootfs: { type: "layers", diff_ids: [diffId] } },
    overrides: { cmd: ["/y"] },
    outDir: join(work, "disks"),
  });
  assert.equal(derived.reused, "base");
  const allocated = (p: string) => lstatSync(p).blocks * 512;
  assert.ok(
    allocated(derived.path) <= allocated(disk.path) + (1 << 20),
    `the derived disk allocates ${allocated(derived.path)} bytes, the base ${allocated(disk.path)}: holes were written out`,
  );
  assertFsckClean(derived.path);
  run("mount", ["-o", "loop,ro,noload", disk.path, mnt]);
  const st = lstatSync(join(mnt, "huge"));
  assert.equal(st.size, size);
  assert.ok(st.blocks <= 16, `huge should be a hole but for its last block, it has ${st.blocks} sectors`);
  const fd = spawnSync("tail", ["-c", "8", join(mnt, "huge")]);
  assert.deepEqual(fd.stdout, Buffer.from("\0\0\0\0END!"));
});
