// Test support for the ext4 writer (imported by *.test.ts only): builds Node trees tersely, and
// reads a built disk back through the oracles, e2fsprogs (e2fsck, debugfs) and the kernel (loop
// mount), so tests compare what was asked for with what a real ext4 reader sees.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Node, Timestamp } from "../tree.js";
import { newDir } from "../tree.js";
import type { Ext4Builder } from "./builder.js";

export interface RunResult {
  code: number | null;
  stdout: Buffer;
  stderr: Buffer;
}

/** Runs a tool and keeps its output as bytes (names on the disk need not be UTF-8). */
export function run(cmd: string, args: readonly string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LC_ALL: "C" } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err) }));
  });
}

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "walk-ext4-test-"));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

const FSCK_OK = [/^e2fsck \d/, /^Pass [1-5]: /, /^\S+: \d+\/\d+ files \([\d.]+% non-contiguous\), \d+\/\d+ blocks$/];

/** e2fsck -fn: the exit code and every output line that is not one of its routine lines. */
export async function fsck(image: string): Promise<{ code: number | null; complaints: string[] }> {
  const r = await run("e2fsck", ["-fn", image]);
  const lines = `${r.stdout.toString("latin1")}\n${r.stderr.toString("latin1")}`.split("\n").filter((l) => l.trim() !== "");
  return { code: r.code, complaints: lines.filter((l) => !FSCK_OK.some((re) => re.test(l))) };
}

/** Runs debugfs commands (binary strings) in one batch and returns each command's output. */
export async function debugfs(image: string, commands: readonly string[]): Promise<string[]> {
  const { dir, cleanup } = await tempDir();
  try {
    const file = join(dir, "cmds");
    await writeFile(file, Buffer.from(commands.map((c) => `${c}\n`).join(""), "latin1"));
    const r = await run("debugfs", ["-f", file, image]);
    if (r.code !== 0) throw new Error(`debugfs failed: ${r.stderr.toString()}`);
    const text = r.stdout.toString("latin1");
    const outputs: string[] = [];
    let pos = text.indexOf(`debugfs: ${commands[0]}\n`);
    for (let i = 0; i < commands.length; i++) {
      const start = pos + `debugfs: ${commands[i]}\n`.length;
      const next = i + 1 < commands.length ? text.indexOf(`debugfs: ${commands[i + 1]}\n`, start) : text.length;
      if (pos < 0 || next < 0) throw new Error(`debugfs output is missing command ${i}`);
      outputs.push(text.slice(start, next));
      pos = next;
    }
    return outputs;
  } finally {
    await cleanup();
  }
}

export interface DebugStat {
  ino: number;
  type: string;
  mode: number;
  flags: number;
  uid: number;
  gid: number;
  size: number;
  links: number;
  blockcount: number;
  fileAcl: number;
  mtime: Timestamp;
  fastLink?: string;
  device?: { major: number; minor: number };
  extents: string;
}

function req(text: string, re: RegExp): RegExpMatchArray {
  const m = re.exec(text);
  if (m === null) throw new Error(`debugfs stat output lacks ${String(re)}:\n${text}`);
  return m;
}

export function parseStat(text: string): DebugStat {
  const head = req(text, /Inode: (\d+)\s+Type: (.+?)\s+Mode:\s+(\d+)\s+Flags: 0x([0-9a-f]+)/);
  const owner = req(text, /User:\s+(-?\d+)\s+Group:\s+(-?\d+)\s+Project:\s+\d+\s+Size: (\d+)/);
  const links = req(text, /Links: (\d+)\s+Blockcount: (\d+)/);
  const mt = req(text, / mtime: 0x([0-9a-f]+):([0-9a-f]+)/);
  const lo = parseInt(mt[1]!, 16) | 0;
  const extra = parseInt(mt[2]!, 16);
  const st: DebugStat = {
    ino: Number(head[1]),
    type: head[2]!,
    mode: parseInt(head[3]!, 8),
    flags: parseInt(head[4]!, 16),
    uid: Number(owner[1]) >>> 0,
    gid: Number(owner[2]) >>> 0,
    size: Number(owner[3]),
    links: Number(links[1]),
    blockcount: Number(links[2]),
    fileAcl: Number(req(text, /File ACL: (\d+)/)[1]),
    mtime: { sec: lo + (extra & 3) * 2 ** 32, nsec: extra >>> 2 },
    extents: /EXTENTS:\n(.*)/.exec(text)?.[1] ?? "",
  };
  const fl = /Fast link dest: "(.*)"/.exec(text);
  if (fl !== null) st.fastLink = fl[1]!;
  const dev = /Device major\/minor number: (\d+):(\d+)/.exec(text);
  if (dev !== null) st.device = { major: Number(dev[1]), minor: Number(dev[2]) };
  return st;
}

/** Parses `ls -l -r` output into name (binary string) -> inode; debugfs shows bytes >= 0x80 as \xNN. */
export function parseLs(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^\s*(\d+)\s+\d+\s+\(\d+\)\s+-?\d+\s+-?\d+\s+\d+\s+\S+\s+\S+ (.*)$/.exec(line);
    if (m !== null) out.set(m[2]!.replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), Number(m[1]));
  }
  return out;
}

export function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

export async function* chunks(b: Uint8Array, size = 65536): AsyncIterable<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

const T0: Timestamp = { sec: 1_700_000_000, nsec: 0 };

export function meta(n: Partial<Node> & { kind: Node["kind"] }): Node {
  return { mode: 0o644, uid: 0, gid: 0, mtime: T0, xattrs: new Map(), ...n };
}

export function dir(entries: Record<string, Node> | [string, Node][], opts: Partial<Node> = {}): Node {
  const d = { ...newDir(0o755, 0, 0, T0), ...opts };
  d.children = new Map(Array.isArray(entries) ? entries : Object.entries(entries));
  return d;
}

export function symlink(target: string | Buffer, opts: Partial<Node> = {}): Node {
  return meta({ kind: "symlink", mode: 0o777, target: typeof target === "string" ? Buffer.from(target, "latin1") : target, ...opts });
}

/** Streams `content` through the builder and returns a file node holding it. */
export async function file(b: Ext4Builder, content: Buffer | string, opts: Partial<Node> = {}, contents?: Map<Node, Buffer>): Promise<Node> {
  const buf = typeof content === "string" ? Buffer.from(content) : content;
  const n = meta({ kind: "file", ...opts, data: await b.writeData(chunks(buf, 7000), buf.length) });
  contents?.set(n, buf);
  return n;
}

/** Every node with its path (binary string, "" for the root), depth first. */
export function walk(root: Node): { path: string; node: Node }[] {
  const out: { path: string; node: Node }[] = [];
  const stack: { path: string; node: Node }[] = [{ path: "", node: root }];
  while (stack.length > 0) {
    const e = stack.pop()!;
    out.push(e);
    for (const [name, child] of e.node.children ?? []) stack.push({ path: `${e.path}/${name}`, node: child });
  }
  return out;
}

/** Reads back a file (or a slow symlink's target) with debugfs dump. */
export async function dumpInode(image: string, ino: number): Promise<Buffer> {
  const { dir: d, cleanup } = await tempDir();
  try {
    const out = join(d, "out");
    await debugfs(image, [`dump <${ino}> ${out}`]);
    return await readFile(out);
  } finally {
    await cleanup();
  }
}
