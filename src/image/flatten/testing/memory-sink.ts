// Test support: a DataSink that keeps file contents in memory, so flattening can be tested on the
// tree level without an ext4 writer, and a dump of a tree as one line per path for assertions.
// Never used by production code.
import { createHash } from "node:crypto";
import type { DataSink, FileData, Node } from "../../tree.js";

export class MemorySink implements DataSink {
  private next = 1;
  /** Contents by the `physical` number of their single extent. */
  readonly live = new Map<number, Buffer>();
  readonly released: Buffer[] = [];

  async writeData(source: AsyncIterable<Uint8Array>, size: number): Promise<FileData> {
    const parts: Buffer[] = [];
    let got = 0;
    for await (const chunk of source) {
      parts.push(Buffer.from(chunk)); // copied: a producer reusing its buffers must not change what was stored
      got += chunk.length;
    }
    if (got !== size) throw new Error(`MemorySink: expected ${size} bytes, got ${got}`);
    const id = this.next++;
    this.live.set(id, Buffer.concat(parts));
    return { size, extents: [{ logical: 0, physical: id, length: Math.ceil(size / 4096) }] };
  }

  release(data: FileData): void {
    const id = data.extents[0]?.physical ?? -1;
    const content = this.live.get(id);
    if (content === undefined) throw new Error(`MemorySink: release of unknown or already released data ${id}`);
    this.live.delete(id);
    this.released.push(content);
  }

  content(node: Node): Buffer {
    const content = this.live.get(node.data?.extents[0]?.physical ?? -1);
    if (content === undefined) throw new Error("MemorySink: node has no live content");
    return content;
  }
}

/** Every node of `root` by path ("/" joined binary-string names), parents before children. */
export function walkTree(root: Node): Map<string, Node> {
  const out = new Map<string, Node>([["/", root]]);
  const stack: Array<[string, Node]> = [["", root]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [path, node] = item;
    for (const [name, child] of node.children ?? []) {
      const p = `${path}/${name}`;
      out.set(p, child);
      if (child.kind === "dir") stack.push([p, child]);
    }
  }
  return out;
}

/** One line per path: kind, octal mode, owner, and what identifies the content. Sorted by path. */
export function describeTree(root: Node, sink: MemorySink): string[] {
  const lines: string[] = [];
  for (const [path, n] of walkTree(root)) {
    let what = "";
    if (n.kind === "file") what = ` sha256:${createHash("sha256").update(sink.content(n)).digest("hex").slice(0, 12)} size=${n.data?.size}`;
    else if (n.kind === "symlink") what = ` -> ${n.target?.toString("latin1")}`;
    else if (n.kind === "char" || n.kind === "block") what = ` ${n.rdev?.major}:${n.rdev?.minor}`;
    const xattrs = [...n.xattrs].map(([k, v]) => ` ${k}=${v.toString("hex")}`).join("");
    lines.push(`${path} ${n.kind} ${n.mode.toString(8).padStart(4, "0")} ${n.uid}:${n.gid}${what}${xattrs}`);
  }
  return lines.sort();
}
