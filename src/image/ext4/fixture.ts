// Test support (imported by *.test.ts only): one tree with every kind of entry the issue's
// fidelity list names, and two readers that compare a built disk with it entry by entry:
// debugfs (no root needed) and a read-only loop mount (the guest kernel's own view).
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";
import type { Node } from "../tree.js";
import type { Ext4Builder } from "./builder.js";
import { debugfs, dir, file, meta, parseLs, parseStat, run, sha256, symlink, tempDir, walk } from "./testing.js";

const CAP = Buffer.from("0100000200200000000000000000000000000000", "hex"); // cap_net_bind_service, v2
/** A VFS-format POSIX ACL: user::rw-, user:1000:r--, group::r--, mask::r--, other::---. */
const ACL = Buffer.from("02000000" + "01000600ffffffff" + "02000400e8030000" + "04000400ffffffff" + "10000400ffffffff" + "20000000ffffffff", "hex");

export interface Fixture {
  root: Node;
  contents: Map<Node, Buffer>;
}

export async function buildFixture(b: Ext4Builder): Promise<Fixture> {
  const contents = new Map<Node, Buffer>();
  const random = (n: number, seed: number): Buffer => {
    const out = Buffer.alloc(n);
    let x = seed;
    for (let i = 0; i < n; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      out[i] = x >>> 24;
    }
    return out;
  };
  const sh = await file(b, random(10_000, 1), { mode: 0o4755 }, contents);
  const bigValue = random(3000, 2);
  const sparse = Buffer.alloc(5 * 4096 + 100);
  sparse.fill(1, 0, 10);
  sparse.fill(2, 4 * 4096, 4 * 4096 + 50);
  let deep: Node = await file(b, "bottom\n", {}, contents);
  for (let i = 0; i < 200; i++) deep = dir({ [i === 0 ? "leaf" : "d"]: deep });
  const root = dir({
    bin: dir({ sh, bash: sh, "sgid-tool": await file(b, "#!/bin/sh\n", { mode: 0o2755, gid: 50 }, contents) }),
    etc: dir({ passwd: await file(b, "root:x:0:0::/root:/bin/sh\n", {}, contents), empty: await file(b, "", { mode: 0o600 }, contents) }),
    usr: dir({ sh, ping: await file(b, random(5000, 3), { mode: 0o755, xattrs: new Map([["security.capability", CAP]]) }, contents) }),
    tmp: dir({}, { mode: 0o1777 }),
    home: dir({ user: dir({ ".profile": await file(b, "export A=1\n", { uid: 1000, gid: 1000 }, contents) }, { uid: 1000, gid: 1000, mode: 0o750 }) }, { mtime: { sec: 1_600_000_000, nsec: 123_456_789 } }),
    ids: await file(b, "x", { uid: 70_000, gid: 4_000_000_000 }, contents),
    times: dir({
      old: await file(b, "1", { mtime: { sec: -1_000_000, nsec: 5 } }, contents),
      future: await file(b, "2", { mtime: { sec: 5_000_000_000, nsec: 999_999_999 } }, contents),
    }),
    links: dir({
      relative: symlink("../etc/passwd"),
      absolute: symlink("/etc/passwd"),
      dangling: symlink("/nonexistent/path"),
      s59: symlink("/".padEnd(59, "a")),
      s60: symlink("/".padEnd(60, "b")),
      s4000: symlink("/".padEnd(4000, "c")),
      s4095: symlink("/".padEnd(4095, "d")),
    }),
    dev: dir({
      null: meta({ kind: "char", mode: 0o666, rdev: { major: 1, minor: 3 } }),
      sda: meta({ kind: "block", mode: 0o660, gid: 6, rdev: { major: 8, minor: 0 } }),
      nvme: meta({ kind: "block", mode: 0o660, rdev: { major: 259, minor: 70_000 } }),
      max: meta({ kind: "char", mode: 0o600, rdev: { major: 4095, minor: 1_048_575 } }),
      fifo: meta({ kind: "fifo", mode: 0o620 }),
      sock: meta({ kind: "socket", mode: 0o755 }),
    }),
    xattrs: dir({
      big1: await file(b, "a", { xattrs: new Map([["user.big", bigValue], ["security.capability", CAP]]) }, contents),
      big2: await file(b, "b", { xattrs: new Map([["user.big", bigValue], ["security.capability", CAP]]) }, contents),
      many: await file(b, "c", { xattrs: new Map([["user.a", Buffer.from("1")], ["user.empty", Buffer.alloc(0)], ["trusted.t", Buffer.from("trusted value")], ["user.long-name-".padEnd(200, "x"), Buffer.from("v")]]) }, contents),
      acl: await file(b, "d", { xattrs: new Map([["system.posix_acl_access", ACL]]) }, contents),
      link: symlink("target", { xattrs: new Map([["trusted.on-link", Buffer.from("yes")]]) }),
      "link-block": symlink("target", { xattrs: new Map([["trusted.big", bigValue]]) }),
      "dev-xattr": meta({ kind: "char", rdev: { major: 5, minor: 1 }, xattrs: new Map([["security.selinux", Buffer.from("system_u:object_r:tty_device_t:s0\0")]]) }),
    }, { xattrs: new Map([["user.on-dir", Buffer.from("dir value")]]) }),
    names: dir([
      ["n".repeat(255), await file(b, "long name", {}, contents)],
      ["\xff\xfe\x80", await file(b, "latin1 bytes", {}, contents)],
      ["caf\xe9", dir({})],
      ["with space", meta({ kind: "fifo" })],
      ["caf\u00c3\u00a9", await file(b, "utf-8 bytes", {}, contents)],
    ]),
    sparse: await file(b, sparse, {}, contents),
    // More than one block of entries: an htree, so lookups below go through the index.
    indexed: dir(Array.from({ length: 600 }, (_, i): [string, Node] => [`entry-${i}`, meta({ kind: "fifo", uid: i })])),
    "empty-dir": dir({}),
    deep,
  });
  return { root, contents };
}

/** An ACL's entries with the ids that only ACL_USER and ACL_GROUP carry (debugfs shows 0, the kernel -1 for the rest). */
function aclEntries(v: Buffer): string {
  const out: string[] = [];
  for (let off = 4; off + 8 <= v.length; off += 8) {
    const tag = v.readUInt16LE(off);
    out.push(`${tag}:${v.readUInt16LE(off + 2)}:${tag === 2 || tag === 8 ? v.readUInt32LE(off + 4) : "-"}`);
  }
  return out.join(",");
}

function quote(path: string): string {
  return `"${(path === "" ? "/" : path).replace(/"/g, '""')}"`;
}

const TYPE_NAMES: Record<Node["kind"], string> = {
  file: "regular",
  dir: "directory",
  symlink: "symlink",
  char: "character special",
  block: "block special",
  fifo: "FIFO",
  socket: "socket",
};

const TYPE_BITS: Record<Node["kind"], number> = { file: 0o100000, dir: 0o040000, symlink: 0o120000, char: 0o020000, block: 0o060000, fifo: 0o010000, socket: 0o140000 };

/** Directories the builder adds to the root: lost+found, and walk/ when there are reserved files. */
const ADDED = ["lost+found"];

/** Link counts the tree implies, with the directories the builder added counted in the root. */
function expectedLinks(root: Node, added: readonly string[]): Map<Node, number> {
  const links = new Map<Node, number>();
  for (const { node } of walk(root)) {
    if (node.kind !== "dir") continue;
    let subdirs = 0;
    for (const c of node.children!.values()) {
      if (c.kind === "dir") subdirs++;
      else links.set(c, (links.get(c) ?? 0) + 1);
    }
    if (node === root) subdirs += added.filter((n) => !node.children!.has(n)).length;
    links.set(node, 2 + subdirs);
  }
  return links;
}

function expectedNames(node: Node, isRoot: boolean, added: readonly string[]): string[] {
  const names = [...node.children!.keys()];
  if (isRoot) names.push(...added.filter((n) => !names.includes(n)));
  return names.sort();
}

/** Differences between the disk (read with debugfs) and the tree; empty when they agree. */
export async function diffWithDebugfs(image: string, root: Node, contents: Map<Node, Buffer>, added = ADDED): Promise<string[]> {
  const entries = walk(root);
  const links = expectedLinks(root, added);
  const { dir: out, cleanup } = await tempDir();
  try {
    const cmds: string[] = [];
    const dumps: { path: string; node: Node; file: string }[] = [];
    const eas: { path: string; name: string; file: string }[] = [];
    for (const [i, { path, node }] of entries.entries()) {
      cmds.push(`stat ${quote(path)}`, `ea_list ${quote(path)}`);
      if (node.kind === "dir") cmds.push(`ls -l -r ${quote(path)}`);
      if (node.kind === "file" || (node.kind === "symlink" && node.target!.length >= 60)) {
        const f = join(out, `d${i}`);
        dumps.push({ path, node, file: f });
        cmds.push(`dump ${quote(path)} ${f}`);
      }
      for (const name of node.xattrs.keys()) {
        const f = join(out, `x${eas.length}`);
        eas.push({ path, name, file: f });
        cmds.push(`ea_get -f ${f} ${quote(path)} ${name}`);
      }
    }
    const outputs = await debugfs(image, cmds);
    const byCmd = new Map(cmds.map((c, i) => [c, outputs[i]!]));
    const diffs: string[] = [];
    const inoOf = new Map<Node, number>();
    for (const { path, node } of entries) {
      const p = path === "" ? "/" : path;
      const st = parseStat(byCmd.get(`stat ${quote(path)}`)!);
      const want = {
        type: TYPE_NAMES[node.kind],
        mode: node.mode,
        uid: node.uid,
        gid: node.gid,
        links: links.get(node) ?? 1,
        mtime: `${node.mtime.sec}.${node.mtime.nsec}`,
        size: node.kind === "file" ? node.data!.size : node.kind === "symlink" ? node.target!.length : node.kind === "dir" ? st.size : 0,
        device: node.rdev === undefined ? undefined : `${node.rdev.major}:${node.rdev.minor}`,
        fastLink: node.kind === "symlink" && node.target!.length < 60 ? node.target!.toString("latin1") : undefined,
      };
      const got = {
        type: st.type,
        mode: st.mode,
        uid: st.uid,
        gid: st.gid,
        links: st.links,
        mtime: `${st.mtime.sec}.${st.mtime.nsec}`,
        size: st.size,
        device: st.device === undefined ? undefined : `${st.device.major}:${st.device.minor}`,
        fastLink: st.fastLink,
      };
      if (JSON.stringify(want) !== JSON.stringify(got)) diffs.push(`${p}: want ${JSON.stringify(want)} got ${JSON.stringify(got)}`);
      const prev = inoOf.get(node);
      if (prev !== undefined && prev !== st.ino) diffs.push(`${p}: hardlink has inode ${st.ino}, another path has ${prev}`);
      inoOf.set(node, st.ino);
      const eaNames = [...byCmd.get(`ea_list ${quote(path)}`)!.matchAll(/^ {2}(\S+) \(\d+\)/gm)].map((m) => m[1]!).sort();
      if (JSON.stringify(eaNames) !== JSON.stringify([...node.xattrs.keys()].sort())) diffs.push(`${p}: xattr names ${JSON.stringify(eaNames)}`);
      if (node.kind === "dir") {
        const names = [...parseLs(byCmd.get(`ls -l -r ${quote(path)}`)!).keys()].filter((n) => n !== "." && n !== "..").sort();
        if (JSON.stringify(names) !== JSON.stringify(expectedNames(node, path === "", added))) diffs.push(`${p}: directory lists ${names.length} names`);
      }
    }
    for (const d of dumps) {
      const got = await readFile(d.file).catch(() => Buffer.alloc(0));
      const want = d.node.kind === "file" ? contents.get(d.node)! : d.node.target!;
      if (sha256(got) !== sha256(want)) diffs.push(`${d.path}: content differs (${got.length} bytes, want ${want.length})`);
    }
    for (const e of eas) {
      const node = entries.find((x) => x.path === e.path)!.node;
      const got = await readFile(e.file).catch(() => Buffer.alloc(0));
      const want = node.xattrs.get(e.name)!;
      const same = e.name.startsWith("system.posix_acl_") ? aclEntries(got) === aclEntries(want) : got.equals(want);
      if (!same) diffs.push(`${e.path}: xattr ${e.name} = ${got.toString("hex")}`);
    }
    return diffs;
  } finally {
    await cleanup();
  }
}

/** getfattr -R output: path (bytes as a binary string, relative to mnt) -> name -> hex value. */
async function mountedXattrs(mnt: string): Promise<Map<string, Map<string, string>>> {
  const r = await run("getfattr", ["-R", "-h", "-d", "-m", "-", "-e", "hex", "--absolute-names", mnt]).catch((err: unknown) => {
    throw new Error("getfattr is needed to read xattrs through the kernel: apt-get install attr", { cause: err });
  });
  const out = new Map<string, Map<string, string>>();
  let cur: Map<string, string> | undefined;
  for (const line of r.stdout.toString("latin1").split("\n")) {
    if (line.startsWith("# file: ")) {
      const p = line.slice(8).replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
      cur = new Map();
      out.set(p.slice(mnt.length), cur);
    } else if (cur !== undefined && line !== "") {
      const eq = line.indexOf("=");
      cur.set(eq < 0 ? line : line.slice(0, eq), eq < 0 ? "" : line.slice(eq + 3));
    }
  }
  return out;
}

/** Differences between a mounted disk and the tree; empty when they agree. */
export async function diffWithMount(mnt: string, root: Node, contents: Map<Node, Buffer>, added = ADDED): Promise<string[]> {
  const links = expectedLinks(root, added);
  const xattrs = await mountedXattrs(mnt);
  const diffs: string[] = [];
  const inoOf = new Map<Node, bigint>();
  for (const { path, node } of walk(root)) {
    const p = path === "" ? "/" : path;
    const host = Buffer.concat([Buffer.from(mnt), Buffer.from(path, "latin1")]);
    const st = await lstat(host, { bigint: true });
    const rdev = Number(st.rdev);
    const want = {
      mode: TYPE_BITS[node.kind] | node.mode,
      uid: node.uid,
      gid: node.gid,
      nlink: links.get(node) ?? 1,
      mtimeNs: (BigInt(node.mtime.sec) * 1_000_000_000n + BigInt(node.mtime.nsec)).toString(),
      rdev: node.rdev === undefined ? "0:0" : `${node.rdev.major}:${node.rdev.minor}`,
    };
    const got = {
      mode: Number(st.mode),
      uid: Number(st.uid),
      gid: Number(st.gid),
      nlink: Number(st.nlink),
      mtimeNs: st.mtimeNs.toString(),
      rdev: `${((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff)}:${(rdev & 0xff) | ((rdev >>> 12) & ~0xff)}`,
    };
    if (JSON.stringify(want) !== JSON.stringify(got)) diffs.push(`${p}: want ${JSON.stringify(want)} got ${JSON.stringify(got)}`);
    const prev = inoOf.get(node);
    if (prev !== undefined && prev !== st.ino) diffs.push(`${p}: hardlink has another inode`);
    inoOf.set(node, st.ino);
    if (node.kind === "file") {
      const data = await readFile(host);
      if (sha256(data) !== sha256(contents.get(node)!)) diffs.push(`${p}: content differs`);
    } else if (node.kind === "symlink") {
      const t = await readlink(host, { encoding: "buffer" });
      if (!t.equals(node.target!)) diffs.push(`${p}: link target differs`);
    } else if (node.kind === "dir") {
      const names = (await readdir(host, { encoding: "buffer" })).map((n) => n.toString("latin1")).sort();
      if (JSON.stringify(names) !== JSON.stringify(expectedNames(node, path === "", added))) diffs.push(`${p}: directory lists ${names.length} names`);
    }
    const gotX = xattrs.get(path) ?? new Map<string, string>();
    const wantX = new Map([...node.xattrs].map(([k, v]) => [k, v.length === 0 ? "" : v.toString("hex")]));
    if (JSON.stringify([...gotX].sort()) !== JSON.stringify([...wantX].sort())) diffs.push(`${p}: xattrs ${JSON.stringify([...gotX])}`);
  }
  return diffs;
}
