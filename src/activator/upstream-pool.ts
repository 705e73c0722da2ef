// Keep-alive connections to one ready backend: idle ones wait in a LIFO stack (the warmest is
// reused first) and are closed after FREE_SOCKET_TIMEOUT_MS, or at once when the backend closes
// or sends anything while nobody asked (bytes nobody requested are never taken as a response).
// Each connection has one owner at a time, the exchange using it, which gets its socket's events.
// Knows nothing of HTTP.
import { connect, type Socket } from "node:net";
import type { BackendTarget } from "./types.js";

/**
 * A pooled connection idle this long is closed. Below node's own server default of 5 s, so walkd
 * closes an idle connection before a typical backend does, rather than reusing one the backend is
 * closing at that moment.
 */
export const FREE_SOCKET_TIMEOUT_MS = 4_000;

/** What an exchange using an upstream connection is told about its socket. */
export interface UpstreamOwner {
  onUpstreamData(chunk: Buffer): void;
  /** The backend closed its sending side (EOF). */
  onUpstreamEnd(): void;
  /** The socket is closed; `err` when it failed (ECONNREFUSED, ECONNRESET...). */
  onUpstreamClose(err: NodeJS.ErrnoException | undefined): void;
  onUpstreamDrain(): void;
  /** No bytes either way for the timeout the owner set. */
  onUpstreamTimeout(): void;
}

export class UpstreamConn {
  owner: UpstreamOwner | undefined;
  private error: NodeJS.ErrnoException | undefined;

  constructor(
    readonly socket: Socket,
    /** It served a request before: the backend may have closed it at this very moment. */
    public reused: boolean,
    private readonly onIdleEvent: (c: UpstreamConn) => void,
  ) {
    socket.on("data", (c: Buffer) => (this.owner ? this.owner.onUpstreamData(c) : this.onIdleEvent(this)));
    socket.on("end", () => (this.owner ? this.owner.onUpstreamEnd() : this.onIdleEvent(this)));
    socket.on("error", (e: NodeJS.ErrnoException) => (this.error ??= e));
    socket.on("close", () => (this.owner ? this.owner.onUpstreamClose(this.error) : this.onIdleEvent(this)));
    socket.on("drain", () => this.owner?.onUpstreamDrain());
    socket.on("timeout", () => (this.owner ? this.owner.onUpstreamTimeout() : this.onIdleEvent(this)));
  }

  /** Hands the raw socket over (a protocol switch): the pool and the owner no longer see its events. */
  detach(): Socket {
    this.owner = undefined;
    for (const ev of ["data", "end", "close", "drain", "timeout"]) this.socket.removeAllListeners(ev);
    return this.socket;
  }

  destroy(): void {
    this.owner = undefined;
    this.socket.destroy();
  }
}

export class UpstreamPool {
  private readonly idle: UpstreamConn[] = [];
  private destroyed = false;

  constructor(readonly target: BackendTarget) {}

  /** The most recently used idle connection, or a new one; `owner` gets its events from now on. */
  acquire(owner: UpstreamOwner): UpstreamConn {
    const c = this.idle.pop();
    if (c === undefined) return this.connect(owner);
    c.owner = owner;
    return c;
  }

  /** A new connection (for an upgrade, or a retry after a reused one failed). */
  connect(owner: UpstreamOwner): UpstreamConn {
    const socket = connect({ host: this.target.host, port: this.target.port, noDelay: true });
    const c = new UpstreamConn(socket, false, (conn) => this.drop(conn));
    c.owner = owner;
    return c;
  }

  /** Takes back a connection whose exchange ended cleanly; closed instead once the pool is destroyed. */
  release(c: UpstreamConn): void {
    c.owner = undefined;
    if (this.destroyed || c.socket.destroyed || c.socket.readyState !== "open") {
      c.socket.destroy();
      return;
    }
    c.reused = true;
    // An idle connection reads, so a close or stray bytes drop it at once (its last exchange may have paused it).
    if (c.socket.isPaused()) c.socket.resume();
    c.socket.setTimeout(FREE_SOCKET_TIMEOUT_MS);
    this.idle.push(c);
  }

  /** Idle connections (tests and status). */
  get idleCount(): number {
    return this.idle.length;
  }

  /** Closes the idle connections; connections in use are closed when released. */
  destroy(): void {
    this.destroyed = true;
    for (const c of this.idle.splice(0)) c.socket.destroy();
  }

  /** An idle connection did something (data, EOF, close, timeout): it is no longer reusable. */
  private drop(c: UpstreamConn): void {
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    c.socket.destroy();
  }
}
