// The host end of the agent channel: a Unix socket the host listens on and the VMM connects to
// (QEMU: a chardev socket behind virtserialport "walk.agent"; Firecracker later: its vsock
// socket). One connection at a time: a second one while the first is open is not ours and is
// closed; once it has closed, the next is accepted (a restored VM's new QEMU, or QEMU reconnecting
// within one walkd). Parses what the init says (status.ts), can ask the guest to stop, and
// refreshes a restored guest's clock and entropy (refresh.ts). Owns the socket only; it must not
// spawn or kill the VMM.
import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { rm } from "node:fs/promises";
import { WalkError } from "../lib/errors.js";
import { SEED_BYTES, refreshCommand, type RefreshAnswer } from "./refresh.js";
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
  private contractValue: number | undefined;
  private statusValue: GuestStatus | undefined;
  /** The refresh in flight: only an answer on the connection it was sent on, after it was sent, is its answer. */
  private pending: { socket: Socket; answer?: RefreshAnswer } | undefined;
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
        if (ev.type === "hello") this.contractValue = ev.contract;
        else if (ev.type === "started") this.startedAt = Date.now();
        else if (ev.type === "status") this.statusValue ??= ev.status;
        else if (this.pending?.socket === s) this.pending.answer ??= ev.answer;
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

  /**
   * The contract version the init said it speaks (`WALK-INIT`), if this channel heard its boot.
   * An init that was heard starting (`started`) without saying it speaks contract 1.
   */
  get contract(): number | undefined {
    return this.contractValue;
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

  /**
   * Sets a restored guest's wall clock to the host's and reseeds its CRNG with SEED_BYTES from the
   * host's CSPRNG, and waits for the init to confirm both. Everything, including the restored
   * VMM's connection, happens within `timeoutMs`. Rejects with `timeout` when no answer comes (an
   * init before contract 2 ignores the command, or the guest hangs), `unsupported` when the init
   * refuses the command, `internal` when it could not apply it, `unavailable` when the connection
   * closes first, `conflict` when a refresh is already in flight.
   */
  async refresh(timeoutMs: number): Promise<void> {
    if (this.pending) throw new WalkError("conflict", "a refresh of this guest is already waiting for its answer");
    const deadline = Date.now() + timeoutMs;
    const late = (what: string): WalkError =>
      new WalkError("timeout", `${what} within ${timeoutMs} ms (an init older than contract 2 does not answer refresh; or the guest hangs)`);
    while (!this.connected) {
      if (this.flooded) throw new WalkError("unavailable", "the guest flooded its agent channel; it is not listened to any more");
      if (Date.now() >= deadline) throw late("the guest's agent channel did not connect");
      await this.nextEvent(deadline - Date.now());
    }
    const socket = this.socket!;
    const pending: { socket: Socket; answer?: RefreshAnswer } = { socket };
    this.pending = pending;
    try {
      socket.write(refreshCommand(Date.now(), randomBytes(SEED_BYTES)));
      while (pending.answer === undefined) {
        if (socket.destroyed) throw new WalkError("unavailable", "the guest's agent channel closed before the init answered the refresh");
        if (Date.now() >= deadline) throw late("the init did not answer the refresh");
        await this.nextEvent(deadline - Date.now());
      }
    } finally {
      this.pending = undefined;
    }
    const a = pending.answer;
    if (a.kind === "rejected") throw new WalkError("unsupported", `the guest's init refused the refresh: ${a.reason}`);
    if (!a.time || !a.seed) {
      const failed = [a.time ? "" : "set its clock", a.seed ? "" : "reseed its random number generator"].filter(Boolean).join(" or ");
      throw new WalkError("internal", `the guest's init could not ${failed} (its console says why)`);
    }
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.path, { force: true });
  }
}
