// Draws a job's per-layer progress: redrawn bars on a terminal, plain status lines otherwise
// (one line when a layer changes status, so logs and pipes stay readable).
import { humanSize, shortDigest } from "./output.js";

export interface LayerEvent {
  type: "layer";
  digest: string;
  total: number;
  completed: number;
  status: string;
}

interface Row {
  digest: string;
  total: number;
  completed: number;
  status: string;
}

export class ProgressView {
  private readonly rows = new Map<string, Row>();
  private drawn = 0;
  private lastDraw = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly tty: boolean = Boolean(out.isTTY),
  ) {}

  /** Feeds one job event; events other than layer progress are ignored. */
  update(event: { type: string; [k: string]: unknown }): void {
    if (event.type !== "layer") return;
    const e = event as unknown as LayerEvent;
    const prev = this.rows.get(e.digest);
    const row: Row = { digest: e.digest, total: e.total, completed: e.completed, status: e.status };
    this.rows.set(e.digest, row);
    if (!this.tty) {
      if (prev?.status !== row.status) this.out.write(`${shortDigest(row.digest)}: ${row.status} ${humanSize(row.total)}\n`);
      return;
    }
    const now = Date.now();
    if (now - this.lastDraw >= 100 || row.status !== prev?.status) this.draw(now);
  }

  /** Draws the final state once more (terminal only). */
  finish(): void {
    if (this.tty) this.draw(Date.now());
  }

  private draw(now: number): void {
    this.lastDraw = now;
    const width = 30;
    const lines = [...this.rows.values()].map((r) => {
      const frac = r.total > 0 ? Math.min(1, r.completed / r.total) : 1;
      const filled = Math.round(frac * width);
      const bar = "=".repeat(Math.max(0, filled - 1)) + (filled > 0 ? (frac < 1 ? ">" : "=") : "") + " ".repeat(width - filled);
      return `${shortDigest(r.digest)}: ${r.status.padEnd(11)} [${bar}] ${humanSize(r.completed)}/${humanSize(r.total)}`;
    });
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}A`);
    for (const l of lines) this.out.write(`\x1b[2K${l}\n`);
    this.drawn = lines.length;
  }
}
