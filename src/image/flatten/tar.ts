// A streaming reader of tar archives (USTAR, GNU and PAX) that keeps every name byte for byte.
// It exists because tar-stream decodes PAX records as UTF-8: that mangles non-UTF-8 names and the
// binary values of SCHILY.xattr.* records (security.capability). This module only decodes
// headers; it applies no layer semantics and trusts nothing: every length is checked before a
// byte is buffered. Names and link targets are binary strings (one character per byte, latin1).
import { WalkError } from "../../lib/errors.js";
import type { Timestamp } from "../tree.js";
import { ByteReader } from "./bytes.js";

const BLOCK = 512;
const ZERO_BLOCK = Buffer.alloc(BLOCK);
const USTAR_MAGIC = Buffer.from("ustar\0", "latin1");

export type TarEntryType = "file" | "hardlink" | "symlink" | "char" | "block" | "dir" | "fifo";

export interface TarHeader {
  type: TarEntryType;
  /** Raw bytes as a binary string, before any normalisation. */
  path: string;
  /** Raw bytes of the link target (symlink or hardlink), as a binary string; "" when none. */
  linkname: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Timestamp;
  devmajor: number;
  devminor: number;
  /** From PAX SCHILY.xattr.* records: full xattr name (binary string) to raw value. */
  xattrs: Map<string, Buffer>;
}

export interface TarEntry {
  header: TarHeader;
  /** Exactly header.size bytes. Read it fully or not at all before asking for the next entry. */
  body: AsyncIterable<Buffer>;
}

export interface TarReaderLimits {
  /** Largest PAX or GNU long-name header body accepted, in bytes. */
  maxExtendedHeaderBytes: number;
}

const TYPES: Record<string, TarEntryType> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "dir",
  "6": "fifo",
};

function bad(message: string): WalkError {
  return new WalkError("invalid_argument", message);
}

/** A NUL-terminated field as a binary string. */
function field(buf: Buffer, offset: number, length: number): string {
  const end = buf.indexOf(0, offset);
  return buf.toString("latin1", offset, end < 0 || end > offset + length ? offset + length : end);
}

/** An octal field (spaces and NULs around it allowed) or a GNU base-256 number. */
function number(buf: Buffer, offset: number, length: number, name: string): number {
  const end = offset + length;
  const first = buf[offset] ?? 0;
  if (first & 0x80) {
    if (first !== 0x80) throw bad(`tar header field ${name} is a negative or oversized base-256 number`);
    let v = 0;
    for (let i = offset + 1; i < end; i++) v = v * 256 + (buf[i] ?? 0);
    if (!Number.isSafeInteger(v)) throw bad(`tar header field ${name} is too large`);
    return v;
  }
  // Parsed by hand: this runs several times per entry, and tens of thousands of entries are common.
  let i = offset;
  while (i < end && (buf[i] === 0x20 || buf[i] === 0)) i++;
  let v = 0;
  for (; i < end; i++) {
    const c = buf[i] ?? 0;
    if (c < 0x30 || c > 0x37) break;
    v = v * 8 + (c - 0x30);
  }
  for (; i < end; i++) {
    if (buf[i] !== 0x20 && buf[i] !== 0) throw bad(`tar header field ${name} is not an octal number: ${JSON.stringify(buf.toString("latin1", offset, end))}`);
  }
  if (!Number.isSafeInteger(v)) throw bad(`tar header field ${name} is too large`);
  return v;
}

function checksumOk(h: Buffer): boolean {
  const stored = number(h, 148, 8, "chksum");
  let unsigned = 8 * 0x20; // the checksum field counts as spaces
  for (let i = 0; i < 148; i++) unsigned += h[i] as number;
  for (let i = 156; i < BLOCK; i++) unsigned += h[i] as number;
  if (stored === unsigned) return true;
  // Some old tars sum signed bytes: each byte >= 0x80 counts 256 lower.
  let high = 0;
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) high += (h[i] as number) >> 7;
  return stored === unsigned - 256 * high;
}

function decimal(value: Buffer, key: string): number {
  const s = value.toString("latin1");
  if (!/^[0-9]{1,16}$/.test(s) || !Number.isSafeInteger(Number(s))) throw bad(`PAX record ${key} is not a number: ${JSON.stringify(s)}`);
  return Number(s);
}

function paxTime(value: Buffer): Timestamp {
  const s = value.toString("latin1");
  const m = /^(-?)([0-9]{1,16})(?:\.([0-9]*))?$/.exec(s);
  if (!m) throw bad(`PAX record mtime is not a time: ${JSON.stringify(s)}`);
  const sec = Number(m[2]);
  const nsec = Number((m[3] ?? "").slice(0, 9).padEnd(9, "0"));
  if (m[1] !== "-") return { sec, nsec };
  return nsec === 0 ? { sec: -sec, nsec: 0 } : { sec: -sec - 1, nsec: 1e9 - nsec };
}

/** Parses PAX records ("LEN KEY=VALUE\n") into keys (binary strings) and raw values. */
function parsePax(body: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let at = 0;
  while (at < body.length) {
    if (body[at] === 0) break; // NUL padding after the last record
    const space = body.indexOf(0x20, at);
    const lenText = space < 0 ? "" : body.toString("latin1", at, space);
    if (!/^[0-9]{1,8}$/.test(lenText)) throw bad("a PAX extended header has a malformed record length");
    const len = Number(lenText);
    const end = at + len;
    if (len <= lenText.length + 1 || end > body.length || body[end - 1] !== 0x0a) throw bad("a PAX extended header has a record that overruns it");
    const eq = body.indexOf(0x3d, space + 1);
    if (eq < 0 || eq >= end - 1) throw bad("a PAX extended header has a record without '='");
    records.set(body.toString("latin1", space + 1, eq), body.subarray(eq + 1, end - 1));
    at = end;
  }
  return records;
}

const XATTR_PREFIX = "SCHILY.xattr.";

/** Reads `source` as a tar archive, one entry at a time, then reads the rest of it to its end. */
export async function* readTar(source: AsyncIterable<Uint8Array>, limits: TarReaderLimits): AsyncGenerator<TarEntry, void, undefined> {
  const r = new ByteReader(source);
  let globalPax = new Map<string, Buffer>();
  let pax: Map<string, Buffer> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  let offset = 0;

  const extended = async (size: number, what: string, at: number): Promise<Buffer> => {
    if (size > limits.maxExtendedHeaderBytes) {
      throw new WalkError("size_exceeded", `the ${what} at byte ${at} is ${size} bytes, more than the limit of ${limits.maxExtendedHeaderBytes}`);
    }
    const inside = (): string => `the ${what} at byte ${at}`;
    const body = size === 0 ? Buffer.alloc(0) : await r.readExact(size, inside);
    if (body === null) throw bad(`the layer is truncated: it ends inside the ${what} at byte ${at}`);
    await r.skip(padTo(size), inside);
    return Buffer.from(body); // copied: it outlives the chunk it came in
  };

  for (;;) {
    // Most headers are already in hand: no await, no message built.
    const h = r.take(BLOCK) ?? (await r.readExact(BLOCK, () => `the tar header at byte ${offset}`));
    if (h === null) {
      if (pax || longName !== undefined || longLink !== undefined) throw bad("the layer is truncated: it ends after an extended header, before its entry");
      return; // no end-of-archive blocks: the layer digest check decides whether that is all
    }
    if (h[0] === 0 && h.equals(ZERO_BLOCK)) {
      await r.drain();
      return;
    }
    if (!checksumOk(h)) throw bad(`the tar header at byte ${offset} has a bad checksum: the layer is corrupt or not a tar archive`);
    const flag = String.fromCharCode(h[156] ?? 0);
    const size = number(h, 124, 12, "size");
    const entryOffset = offset;
    offset += BLOCK;

    if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
      const body = await extended(size, flag === "L" || flag === "K" ? "GNU long name" : "PAX extended header", entryOffset);
      offset += size + padTo(size);
      if (flag === "x") pax = parsePax(body);
      else if (flag === "g") {
        globalPax = new Map([...globalPax, ...parsePax(body)]);
        let held = 0;
        for (const [k, v] of globalPax) held += k.length + v.length;
        if (held > limits.maxExtendedHeaderBytes) {
          throw new WalkError("size_exceeded", `the PAX global headers up to byte ${entryOffset} hold more than the limit of ${limits.maxExtendedHeaderBytes} bytes`);
        }
      }
      else {
        const name = field(body, 0, body.length);
        if (flag === "L") longName = name;
        else longLink = name;
      }
      continue;
    }

    const type = TYPES[flag];
    if (type === undefined) throw new WalkError("unsupported", `the tar entry at byte ${entryOffset} has type ${JSON.stringify(flag)}, which walk does not support`);
    const records = pax ? new Map([...globalPax, ...pax]) : globalPax;
    pax = undefined;
    for (const key of records.keys()) {
      if (key.startsWith("GNU.sparse.")) throw new WalkError("unsupported", `the tar entry at byte ${entryOffset} is a GNU sparse file, which walk does not support`);
    }

    let path = field(h, 0, 100);
    if (h[345] !== 0 && h.compare(USTAR_MAGIC, 0, USTAR_MAGIC.length, 257, 257 + USTAR_MAGIC.length) === 0) path = `${field(h, 345, 155)}/${path}`;
    path = longName ?? path;
    const linkname = longLink ?? field(h, 157, 100);
    longName = undefined;
    longLink = undefined;

    const header: TarHeader = {
      type: type === "file" && path.endsWith("/") ? "dir" : type,
      path,
      linkname,
      mode: number(h, 100, 8, "mode") & 0o7777,
      uid: number(h, 108, 8, "uid"),
      gid: number(h, 116, 8, "gid"),
      size,
      mtime: { sec: number(h, 136, 12, "mtime"), nsec: 0 },
      devmajor: number(h, 329, 8, "devmajor"),
      devminor: number(h, 337, 8, "devminor"),
      xattrs: new Map(),
    };
    for (const [key, value] of records) {
      if (key === "path" && value.length > 0) header.path = value.toString("latin1");
      else if (key === "linkpath" && value.length > 0) header.linkname = value.toString("latin1");
      else if (key === "size") header.size = decimal(value, key);
      else if (key === "uid") header.uid = decimal(value, key);
      else if (key === "gid") header.gid = decimal(value, key);
      else if (key === "mtime") header.mtime = paxTime(value);
      else if (key.startsWith(XATTR_PREFIX)) header.xattrs.set(key.slice(XATTR_PREFIX.length), Buffer.from(value));
    }

    const bodySize = header.size;
    const what = (): string => `the data of the tar entry at byte ${entryOffset}`;
    // Only regular files carry data that becomes content; anything else's data is skipped.
    const dataSize = header.type === "file" ? bodySize : 0;
    if (header.type !== "file") header.size = 0;
    const body = r.body(dataSize, what);
    yield { header, body };
    const rest = r.skipBuffered(body.remaining + (bodySize - dataSize) + padTo(bodySize));
    if (rest > 0) await r.skip(rest, what);
    offset += bodySize + padTo(bodySize);
  }
}

function padTo(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}
