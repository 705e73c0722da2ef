// The host end of the agent channel: a Unix socket the host listens on and the VMM connects to
// (QEMU: a chardev socket behind virtserialport "walk.agent"; Firecracker later: its vsock
// socket). One connection at a time: a second one while the first is open is not ours and is
// closed; once it has closed, the next is accepted (a restored VM's new QEMU, or QEMU reconnecting
// within one walkd). Parses what the init says (status.ts) and can ask the guest to stop. Owns the
// socket only; it must not spawn or kill the VMM.
import { createServer, type Server, type Socket } from "node:net";
import { rm } from "node:fs/promises";
import { WalkError } from "../lib/errors.js";
import { AgentParser, type GuestStatus } from "./status.js";

/**
 * The init's whole output on one connection is a few hundred bytes; more is a misbehaving guest,
 * whose later connections are refused too (QEMU would otherwise reconnect and flood again).
 */
const MAX_AGENT_BYTES = 64 * 1024;

export class AgentChannel {
  private socket: Socket | undefined;
  private flooded = false;
  private startedAt: number | undefined;
  private statusValue: GuestStatus | undefined;
  private readonly waiters: Array<() => void> = [];

  private constructor(private readonly server: Server, readonly path: string) {
    server.on("connection", (s) => this.accept(s));
  }

  /** Listens on `path` (removing a stale socket file first). */
  static async listen(path: string): Promise<AgentChannel> {
    await rm(path, { force: true });
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", (e) => reject(new WalkError("unavailable", `cannot listen on the agent socket ${path}: ${e.message}`, { cause: e })));
      server.listen(path, () => resolve());
    });
    return new AgentChannel(server, path);
  }

  private accept(s: Socket): void {
    if (this.flooded || (this.socket !== undefined && !this.socket.destroyed)) {
      s.destroy(); // one VMM, one connection: anything else is not ours
      return;
    }
    // A new connection is a new stream: a line the previous one left unfinished is not continued,
    // and its status is the previous guest run's. `started` stays: a restored guest does not resend it.
    this.socket = s;
    this.statusValue = undefined;
    const parser = new AgentParser();
    let received = 0;
    s.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > MAX_AGENT_BYTES) {
        this.flooded = true;
        s.destroy();
        return;
      }
      for (const ev of parser.push(chunk)) {
        if (ev.type === "started") this.startedAt = Date.now();
        else this.statusValue ??= ev.status;
      }
      this.wake();
    });
    s.on("error", () => {
      // A guest that disconnects mid-line simply said nothing more.
    });
    s.on("close", () => this.wake());
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Wall-clock time (ms since epoch) at which the init last said the workload was running. */
  get started(): number | undefined {
    return this.startedAt;
  }

  /** The first status the current (or last) connection carried. */
  get status(): GuestStatus | undefined {
    return this.statusValue;
  }

  get connected(): boolean {
    return this.socket !== undefined && !this.socket.destroyed;
  }

  /** Resolves at the next event (a connection, data or close) or after timeoutMs. */
  nextEvent(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** Asks the init to stop the workload (same as ctrl-alt-delete). False if no guest is connected. */
  requestStop(): boolean {
    if (!this.connected) return false;
    this.socket?.write("stop\n");
    return true;
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.path, { force: true });
  }
}
