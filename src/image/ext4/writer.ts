// Coalesces block-addressed writes that arrive in ascending order into large pwrite calls.
import type { FileHandle } from "node:fs/promises";
import { BLOCK_SIZE } from "./format.js";

const BUFFER_BYTES = 1 << 20;

export class BlockWriter {
  private readonly buf = Buffer.allocUnsafe(BUFFER_BYTES);
  private fill = 0;
  private startBlock = 0;

  constructor(private readonly fh: FileHandle) {}

  /** Writes `data` (whole blocks) at `block`. */
  async put(block: number, data: Buffer): Promise<void> {
    if (this.fill > 0 && (block !== this.startBlock + this.fill / BLOCK_SIZE || this.fill + data.length > BUFFER_BYTES)) await this.flush();
    if (data.length >= BUFFER_BYTES) {
      await this.fh.write(data, 0, data.length, block * BLOCK_SIZE);
      return;
    }
    if (this.fill === 0) this.startBlock = block;
    data.copy(this.buf, this.fill);
    this.fill += data.length;
  }

  async flush(): Promise<void> {
    if (this.fill === 0) return;
    await this.fh.write(this.buf, 0, this.fill, this.startBlock * BLOCK_SIZE);
    this.fill = 0;
  }
}
