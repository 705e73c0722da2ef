// The route table: which app answers a hostname or a host port. Validated as a whole so a bad
// deploy changes nothing; lookups are pure. Owns no sockets (the activator opens the listeners).
import { WalkError } from "../lib/index.js";
import { canonicalHostname, isDnsLabel } from "./hostname.js";
import type { AppRoute } from "./types.js";

export const LOCALHOST_SUFFIX = ".localhost";

export class RouteTable {
  private readonly byName = new Map<string, AppRoute>();
  private readonly byHost = new Map<string, string>();
  private readonly byPort = new Map<number, string>();

  /** Builds a table from routes, or throws a WalkError naming the first bad or conflicting entry. */
  static build(routes: readonly AppRoute[]): RouteTable {
    const t = new RouteTable();
    for (const r of routes) t.add(r);
    return t;
  }

  private add(r: AppRoute): void {
    if (!isDnsLabel(r.name)) {
      throw new WalkError("invalid_argument", `app name ${JSON.stringify(r.name)} is not a DNS label (a-z, 0-9, inner '-', at most 63)`, { details: { app: r.name } });
    }
    if (this.byName.has(r.name)) throw new WalkError("conflict", `app ${r.name} is listed twice in the route table`, { details: { app: r.name } });
    const names = [`${r.name}${LOCALHOST_SUFFIX}`];
    for (const h of r.hostnames ?? []) {
      const c = canonicalHostname(h);
      if (c === undefined) throw new WalkError("invalid_argument", `app ${r.name}: hostname ${JSON.stringify(h)} is not a valid DNS name`, { details: { app: r.name, hostname: h } });
      names.push(c);
    }
    for (const h of names) {
      const other = this.byHost.get(h);
      if (other !== undefined && other !== r.name) {
        throw new WalkError("conflict", `app ${r.name}: hostname ${h} already belongs to app ${other}`, { details: { app: r.name, hostname: h, owner: other } });
      }
    }
    for (const p of r.hostPorts ?? []) {
      if (!Number.isInteger(p) || p < 1 || p > 65535) throw new WalkError("invalid_argument", `app ${r.name}: host port ${p} is not in 1..65535`, { details: { app: r.name, port: p } });
      const other = this.byPort.get(p);
      if (other !== undefined) throw new WalkError("conflict", `app ${r.name}: host port ${p} already belongs to app ${other}`, { details: { app: r.name, port: p, owner: other } });
    }
    this.byName.set(r.name, r);
    for (const h of names) this.byHost.set(h, r.name);
    for (const p of r.hostPorts ?? []) this.byPort.set(p, r.name);
  }

  /** The app for a canonical hostname (see hostFromHeader). */
  byHostname(host: string): AppRoute | undefined {
    const name = this.byHost.get(host);
    return name === undefined ? undefined : this.byName.get(name);
  }

  byHostPort(port: number): AppRoute | undefined {
    const name = this.byPort.get(port);
    return name === undefined ? undefined : this.byName.get(name);
  }

  get(name: string): AppRoute | undefined {
    return this.byName.get(name);
  }

  apps(): AppRoute[] {
    return [...this.byName.values()];
  }

  ports(): number[] {
    return [...this.byPort.keys()];
  }
}
