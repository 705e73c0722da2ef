// Test support: an ImageSource over blobs held in memory, with faults a test can inject per digest
// (a connection reset after n bytes, a stream that ends early, one that stalls, extra bytes) and a
// log of every open. It deliberately serves whatever bytes it holds without bounding them to the
// descriptor, so the store's and resolver's own checks are what a test exercises.
import { Readable } from "node:stream";
import { WalkError } from "../../lib/errors.js";
import type { Descriptor, FetchedManifest, ImageSource } from "../../oci/types.js";

export type Fault =
  /** Sends `after` bytes then fails like a reset connection; `times` opens fail (default 1). */
  | { kind: "reset"; after: number; times?: number }
  /** Ends cleanly after `after` bytes, every time. */
  | { kind: "truncate"; after: number }
  /** Sends `after` bytes then nothing more until destroyed. */
  | { kind: "stall"; after: number; times?: number };

export interface MemoryBlob {
  digest: string;
  data: Buffer;
}

export interface MemorySourceOptions {
  name?: string;
  /** The root manifest or index: its bytes must be among `blobs`. */
  root: { digest: string; mediaType: string };
  blobs: Iterable<MemoryBlob>;
  /** Whether openBlob honours an offset (like a registry with Range support); default true. */
  ranges?: boolean;
  /** Chunk size of blob streams; default 64 KiB. */
  chunkSize?: number;
}

export class MemorySource implements ImageSource {
  readonly name: string;
  readonly opens: { digest: string; offset: number }[] = [];
  readonly faults = new Map<string, Fault>();
  private readonly blobs = new Map<string, Buffer>();
  private readonly root: { digest: string; mediaType: string };
  private readonly ranges: boolean;
  private readonly chunkSize: number;

  constructor(opts: MemorySourceOptions) {
    this.name = opts.name ?? "memory:test";
    this.root = opts.root;
    this.ranges = opts.ranges ?? true;
    this.chunkSize = opts.chunkSize ?? 64 * 1024;
    for (const b of opts.blobs) this.blobs.set(b.digest, b.data);
  }

  /** Replaces the bytes served for `digest` (to tamper with content behind a descriptor). */
  setBlob(digest: string, data: Buffer): void {
    this.blobs.set(digest, data);
  }

  private bytesOf(digest: string): Buffer {
    const b = this.blobs.get(digest);
    if (!b) throw new WalkError("not_found", `${this.name} has no blob ${digest}`);
    return b;
  }

  async getRootManifest(): Promise<FetchedManifest> {
    return { bytes: this.bytesOf(this.root.digest), mediaType: this.root.mediaType, digest: this.root.digest };
  }

  async getManifest(desc: Descriptor): Promise<FetchedManifest> {
    return { bytes: this.bytesOf(desc.digest), mediaType: desc.mediaType, digest: desc.digest };
  }

  async openBlob(desc: Descriptor, offset: number): Promise<{ stream: Readable; offset: number }> {
    const data = this.bytesOf(desc.digest);
    const start = this.ranges ? offset : 0;
    this.opens.push({ digest: desc.digest, offset: start });
    const fault = this.faults.get(desc.digest);
    if (fault && fault.kind !== "truncate") {
      const left = (fault.times ?? 1) - 1;
      if (left <= 0) this.faults.delete(desc.digest);
      else this.faults.set(desc.digest, { ...fault, times: left });
    }
    return { stream: this.stream(data, start, fault), offset: start };
  }

  private stream(data: Buffer, start: number, fault: Fault | undefined): Readable {
    const chunkSize = this.chunkSize;
    const limit = fault ? Math.min(data.length, Math.max(start, fault.after)) : data.length;
    let pos = start;
    return new Readable({
      read() {
        if (pos >= limit) {
          if (!fault) this.push(null);
          else if (fault.kind === "truncate") this.push(null);
          else if (fault.kind === "reset") this.destroy(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
          return; // a stall pushes nothing more
        }
        const end = Math.min(limit, pos + chunkSize);
        const chunk = data.subarray(pos, end);
        pos = end;
        this.push(chunk);
      },
    });
  }

  async close(): Promise<void> {}
}
