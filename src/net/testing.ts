// Test support for src/net: a temporary walk database with every migration applied, as walkd opens it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase, type Db } from "../store/index.js";

export interface TempDb {
  db: Db;
  path: string;
  close(): void;
}

export function openTempNetDb(): TempDb {
  const dir = mkdtempSync(join(tmpdir(), "walk-net-db-"));
  const path = join(dir, "walk.db");
  const db = openDatabase(path);
  return {
    db,
    path,
    close: () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A DNS query for an A record of `name`, with id `id` and recursion desired. */
export function dnsQuery(id: number, name: string): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2); // RD
  header.writeUInt16BE(1, 4); // QDCOUNT
  const labels = name.split(".").map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, "ascii")]));
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

/** The question name of a query (no compression in questions). */
export function dnsQuestionName(msg: Buffer): string {
  const labels: string[] = [];
  let off = 12;
  while (off < msg.length && msg[off] !== 0) {
    const len = msg[off]!;
    labels.push(msg.subarray(off + 1, off + 1 + len).toString("ascii"));
    off += 1 + len;
  }
  return labels.join(".");
}

/** An answer to `query` with one A record (or NXDOMAIN when `address` is undefined). */
export function dnsAnswer(query: Buffer, address: string | undefined): Buffer {
  const qEnd = 12 + query.subarray(12).indexOf(0) + 5;
  const r = Buffer.from(query.subarray(0, qEnd));
  r.writeUInt16BE(address === undefined ? 0x8183 : 0x8180, 2);
  r.writeUInt16BE(address === undefined ? 0 : 1, 6);
  r.writeUInt16BE(0, 8);
  r.writeUInt16BE(0, 10);
  if (address === undefined) return r;
  const rr = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...address.split(".").map(Number)]);
  return Buffer.concat([r, rr]);
}

/** The id, RCODE and A records of an answer. */
export function dnsParseAnswer(msg: Buffer): { id: number; rcode: number; addresses: string[] } {
  const id = msg.readUInt16BE(0);
  const rcode = msg[3]! & 0x0f;
  const an = msg.readUInt16BE(6);
  let off = 12 + msg.subarray(12).indexOf(0) + 5;
  const addresses: string[] = [];
  for (let i = 0; i < an && off < msg.length; i++) {
    off += (msg[off]! & 0xc0) === 0xc0 ? 2 : msg.subarray(off).indexOf(0) + 1;
    const type = msg.readUInt16BE(off);
    const rdlen = msg.readUInt16BE(off + 8);
    if (type === 1 && rdlen === 4) addresses.push([...msg.subarray(off + 10, off + 14)].join("."));
    off += 10 + rdlen;
  }
  return { id, rcode, addresses };
}
