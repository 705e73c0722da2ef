// An index of a tar file's members (name, type, data offset, size) built in one pass over its
// headers without reading member data, so members can be opened later as byte ranges. It reads
// USTAR, PAX (path, linkpath, size) and GNU long names, verifies header checksums, and resolves
// symlinks and hardlinks only within the archive. Used for `docker save` tarballs; it never
// extracts anything and knows nothing of images.
import type { FileHandle } from "node:fs/promises";
import { posix } from "node:path";
import { WalkError } from "../lib/errors.js";

export type TarMemberType = "file" | "dir" | "symlink" | "hardlink" | "other";

export interface TarMember {
  /** Normalised: no leading "./" or "/", no trailing "/". */
  name: string;
  type: TarMemberType;
  /** Byte offset of the member's data in the tar file. */
  offset: number;
  size: number;
  linkname: string;
}

const BLOCK = 512;
const MAX_MEMBERS = 100_000;
const MAX_EXTENDED_HEADER = 1 << 20;
const MAX_LINK_HOPS = 16;

/** Archive-relative form of a member name, or undefined for names that climb out of it. */
export function normalizeMemberName(raw: string): string | undefined {
  const n = posix.normalize(raw.replace(/^\/+/, ""));
  if (n === ".." || n.startsWith("../")) return undefined;
  const trimmed = n.replace(/\/+$/, "");
  return trimmed === "." ? "" : trimmed;
}

function cString(buf: Buffer, start: number, length: number): string {
  const field = buf.subarray(start, start + length);
  const nul = field.indexOf(0);
  return (nul === -1 ? field : field.subarray(0, nul)).toString("utf8");
}

function parseNumber(buf: Buffer, start: number, length: number, what: string): number {
  const field = buf.subarray(start, start + length);
  if ((field[0]! & 0x80) !== 0) {
    // GNU base-256: big-endian with the top bit of the first byte as the marker.
    let v = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) v = v * 256 + field[i]!;
    if (!Number.isSafeInteger(v)) throw new WalkError("invalid_argument", `${what} is out of range`);
    return v;
  }
  const text = field.toString("latin1").replace(/[\0 ]+$/, "").replace(/^[ ]+/, "");
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new WalkError("invalid_argument", `${what} is not an octal number`);
  return parseInt(text, 8);
}

function checksumOk(header: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  const stored = cString(header, 148, 8).trim();
  return /^[0-7]+$/.test(stored) && parseInt(stored, 8) === sum;
}

function parsePax(data: Buffer, what: string): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) break;
    const len = Number(data.subarray(pos, space).toString("latin1"));
    if (!Number.isSafeInteger(len) || len <= space - pos || pos + len > data.length) throw new WalkError("invalid_argument", `${what}: malformed PAX record`);
    const record = data.subarray(space + 1, pos + len - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return out;
}

function memberType(flag: string): TarMemberType {
  switch (flag) {
    case "0":
    case "\0":
    case "":
    case "7":
      return "file";
    case "5":
      return "dir";
    case "2":
      return "symlink";
    case "1":
      return "hardlink";
    default:
      return "other";
  }
}

export class TarIndex {
  private readonly members: Map<string, TarMember>;
  private readonly what: string;

  private constructor(members: Map<string, TarMember>, what: string) {
    this.members = members;
    this.what = what;
  }

  /** Walks every header of the tar in `fh`; `what` names the file in errors. */
  static async read(fh: FileHandle, what: string): Promise<TarIndex> {
    const fileSize = (await fh.stat()).size;
    const members = new Map<string, TarMember>();
    const header = Buffer.alloc(BLOCK);
    let pos = 0;
    let count = 0;
    let pax = new Map<string, string>();
    let longName: string | undefined;
    let longLink: string | undefined;
    const readData = async (offset: number, size: number, kind: string): Promise<Buffer> => {
      if (size > MAX_EXTENDED_HEADER) throw new WalkError("size_exceeded", `${what}: ${kind} of ${size} bytes at offset ${offset} is larger than ${MAX_EXTENDED_HEADER}`);
      const buf = Buffer.alloc(size);
      const { bytesRead } = await fh.read(buf, 0, size, offset);
      if (bytesRead !== size) throw new WalkError("invalid_argument", `${what} is truncated in a ${kind} at offset ${offset}`);
      return buf;
    };
    for (;;) {
      if (pos + BLOCK > fileSize) {
        // Ending right after a member is tolerated (the trailer is often dropped); mid-header is not.
        if (pos < fileSize) throw new WalkError("invalid_argument", `${what} is truncated inside the header at offset ${pos}`);
        break;
      }
      const { bytesRead } = await fh.read(header, 0, BLOCK, pos);
      if (bytesRead !== BLOCK) throw new WalkError("invalid_argument", `${what} is truncated inside the header at offset ${pos}`);
      if (header.every((b) => b === 0)) break;
      if (!checksumOk(header)) throw new WalkError("invalid_argument", `${what} is not a valid tar file: bad header checksum at offset ${pos}`);
      if (++count > MAX_MEMBERS) throw new WalkError("size_exceeded", `${what} has more than ${MAX_MEMBERS} members`);
      const flag = String.fromCharCode(header[156]!);
      let size = parseNumber(header, 124, 12, `${what}: size of the member at offset ${pos}`);
      const overrideSize = pax.get("size");
      if (overrideSize !== undefined) {
        size = Number(overrideSize);
        if (!Number.isSafeInteger(size) || size < 0) throw new WalkError("invalid_argument", `${what}: bad PAX size at offset ${pos}`);
      }
      const dataOffset = pos + BLOCK;
      if (dataOffset + size > fileSize) throw new WalkError("invalid_argument", `${what} is truncated: the member at offset ${pos} needs ${size} bytes past the end`);
      const next = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
      if (flag === "x") pax = parsePax(await readData(dataOffset, size, "PAX header"), what);
      else if (flag === "g") {
        // Global PAX headers set defaults docker never relies on; skipped.
      } else if (flag === "L") longName = cString(await readData(dataOffset, size, "long name"), 0, size);
      else if (flag === "K") longLink = cString(await readData(dataOffset, size, "long link name"), 0, size);
      else {
        const ustar = header.subarray(257, 263).toString("latin1") === "ustar\0";
        const prefix = ustar ? cString(header, 345, 155) : "";
        const baseName = cString(header, 0, 100);
        const raw = pax.get("path") ?? longName ?? (prefix ? `${prefix}/${baseName}` : baseName);
        const linkname = pax.get("linkpath") ?? longLink ?? cString(header, 157, 100);
        const name = normalizeMemberName(raw);
        if (name !== undefined && name !== "") members.set(name, { name, type: memberType(flag), offset: dataOffset, size, linkname });
        pax = new Map();
        longName = undefined;
        longLink = undefined;
      }
      pos = next;
    }
    return new TarIndex(members, what);
  }

  has(name: string): boolean {
    return this.members.has(name);
  }

  /** The regular file `name` refers to, following links inside the archive; undefined if none. */
  resolveFile(name: string): TarMember | undefined {
    let current = normalizeMemberName(name);
    for (let hop = 0; hop <= MAX_LINK_HOPS && current !== undefined; hop++) {
      const m = this.members.get(current);
      if (!m) return undefined;
      if (m.type === "file") return m;
      if (m.type === "symlink") current = normalizeMemberName(m.linkname.startsWith("/") ? m.linkname : posix.join(posix.dirname(m.name), m.linkname));
      else if (m.type === "hardlink") current = normalizeMemberName(m.linkname);
      else throw new WalkError("invalid_argument", `${this.what}: ${name} is not a regular file`);
    }
    if (current === undefined) throw new WalkError("invalid_argument", `${this.what}: ${name} links outside the archive`);
    throw new WalkError("invalid_argument", `${this.what}: ${name} has too many levels of links`);
  }
}
