// Authentication to one registry: remembers the registry's challenge, answers Basic challenges
// with the user's credentials, and runs the bearer token flow (GET realm?service=&scope= with Basic
// credentials, or the OAuth2 refresh-token POST for identity tokens), caching one token per scope
// until shortly before it expires. Credentials go to the token realm only when it is the registry
// host itself or a host configured as trusted for this registry; otherwise the token is fetched
// anonymously. Never logs or prints a secret.
import { WalkError } from "../../lib/errors.js";
import type { Logger } from "../../lib/log.js";
import { parseChallenges, type Challenge } from "./challenge.js";
import type { Credentials, CredentialsResolver } from "./credentials.js";
import { errorFromReply } from "./errors.js";
import { readBody, redact, type HttpTransport } from "./transport.js";

export const TOKEN_REPLY_LIMIT = 1 << 20;
const DEFAULT_TOKEN_LIFETIME_S = 60;
const MAX_REFRESH_MARGIN_MS = 30_000;

/** Token realms that may receive credentials, keyed by registry API host (Docker Hub's is built in). */
export const DEFAULT_TRUSTED_TOKEN_REALMS: Readonly<Record<string, readonly string[]>> = {
  "registry-1.docker.io": ["auth.docker.io"],
};

export interface AuthOptions {
  /** Canonical registry name, for credential lookup and messages ("docker.io"). */
  registry: string;
  /** host[:port] the registry API is served from. */
  apiHost: string;
  transport: HttpTransport;
  credentials?: CredentialsResolver;
  /** Extra token realm hosts per registry API host that may receive credentials. */
  trustedTokenRealms?: Readonly<Record<string, readonly string[]>>;
  logger?: Logger;
  /** Clock, for tests. */
  now?: () => number;
}

/** The Authorization to send, and how it was obtained (for messages). */
export interface Authorization {
  header: string | undefined;
  /** It carries the user's credentials, or a token obtained with them. */
  withCredentials: boolean;
  /** The token realm host the user's credentials were withheld from, being on another host. */
  withheldFrom?: string;
}

interface Token extends Authorization {
  header: string;
  /** When to stop using it: a margin before the server's expiry. */
  refreshAt: number;
}

export class RegistryAuth {
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, Promise<Token>>();
  private creds: Promise<Credentials | undefined> | undefined;
  private readonly opts: AuthOptions;

  constructor(opts: AuthOptions) {
    this.opts = opts;
  }

  /** Records the challenge of a 401 reply. Returns false when the header offers nothing usable. */
  setChallenge(header: string | string[] | undefined): boolean {
    const all = parseChallenges(Array.isArray(header) ? header.join(", ") : (header ?? ""));
    const usable = all.find((c) => c.scheme === "bearer" && c.params.realm !== undefined) ?? all.find((c) => c.scheme === "basic");
    if (usable === undefined) return false;
    this.challenge = usable;
    return true;
  }

  /** The Authorization for a request needing `scope` (e.g. "repository:library/nginx:pull"). */
  async authorize(scope: string | undefined): Promise<Authorization> {
    const challenge = this.challenge;
    if (challenge === undefined) return { header: undefined, withCredentials: false };
    if (challenge.scheme === "basic") {
      const creds = await this.credentials();
      if (creds?.password === undefined) return { header: undefined, withCredentials: false };
      return { header: basicHeader(creds.username, creds.password), withCredentials: true };
    }
    return this.token(challenge, scope);
  }

  /**
   * Handles a 401 to a request that carried `sent`: records the new challenge and drops the
   * token that was refused. Returns whether one retry with fresh authorization can help.
   */
  async refused(header: string | string[] | undefined, scope: string | undefined, sent: Authorization): Promise<boolean> {
    if (!this.setChallenge(header)) return false;
    if (this.challenge?.scheme === "basic") return sent.header === undefined && (await this.credentials())?.password !== undefined;
    const key = scope ?? "";
    const cached = this.tokens.get(key);
    if (cached !== undefined) {
      const token = await cached.catch(() => undefined);
      if (token === undefined || token.header === sent.header) this.tokens.delete(key);
    }
    return true;
  }

  private credentials(): Promise<Credentials | undefined> {
    if (this.creds === undefined) {
      const creds = this.opts.credentials?.(this.opts.registry) ?? Promise.resolve(undefined);
      // A failed lookup (a helper that timed out) is asked again next time.
      creds.catch(() => {
        if (this.creds === creds) this.creds = undefined;
      });
      this.creds = creds;
    }
    return this.creds;
  }

  private async token(challenge: Challenge, scope: string | undefined): Promise<Token> {
    const key = scope ?? "";
    const now = this.opts.now ?? Date.now;
    const cached = this.tokens.get(key);
    if (cached !== undefined) {
      const token = await cached.catch(() => undefined);
      if (token !== undefined && now() < token.refreshAt) return token;
      if (this.tokens.get(key) === cached) this.tokens.delete(key);
    }
    let pending = this.tokens.get(key);
    if (pending === undefined) {
      pending = this.fetchToken(challenge, scope);
      this.tokens.set(key, pending);
      pending.catch(() => {
        if (this.tokens.get(key) === pending) this.tokens.delete(key);
      });
    }
    return pending;
  }

  private realmMayGetCredentials(realm: URL): boolean {
    if (realm.host === this.opts.apiHost.toLowerCase()) return true;
    const trusted = [...(DEFAULT_TRUSTED_TOKEN_REALMS[this.opts.apiHost] ?? []), ...(this.opts.trustedTokenRealms?.[this.opts.apiHost] ?? [])];
    return trusted.some((h) => h.toLowerCase() === realm.host.toLowerCase());
  }

  /**
   * Fetches a token. Concurrent requests share one fetch, so it takes no caller's AbortSignal;
   * the transport's timeouts bound it.
   */
  private async fetchToken(challenge: Challenge, scope: string | undefined): Promise<Token> {
    const { registry } = this.opts;
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm ?? "");
    } catch {
      throw new WalkError("unavailable", `registry ${registry} sent a bearer challenge with an invalid realm`);
    }
    const trusted = this.realmMayGetCredentials(realm);
    const known = await this.credentials();
    const creds = trusted ? known : undefined;
    const withheldFrom = !trusted && known !== undefined ? realm.host : undefined;
    if (withheldFrom !== undefined) {
      this.opts.logger?.warn({ registry, realm: withheldFrom }, "token realm is on another host: fetching an anonymous token, credentials withheld");
    }
    const service = challenge.params.service;
    const what = `token for ${registry}${scope === undefined ? "" : ` (${scope})`} from ${redact(realm)}`;
    let res;
    if (creds?.identityToken !== undefined) {
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: creds.identityToken, client_id: "walk.io" });
      if (service !== undefined) form.set("service", service);
      if (scope !== undefined) form.set("scope", scope);
      res = await this.opts.transport.send(realm, { method: "POST", body: form.toString(), headers: { "content-type": "application/x-www-form-urlencoded" } });
    } else {
      const url = new URL(realm);
      if (service !== undefined) url.searchParams.set("service", service);
      if (scope !== undefined) url.searchParams.set("scope", scope);
      const header = creds?.password !== undefined ? basicHeader(creds.username, creds.password) : undefined;
      res = await this.opts.transport.send(url, { authorization: header });
    }
    const withCredentials = creds !== undefined;
    if (res.status !== 200) {
      const err = await errorFromReply(res, { registry, what }, withCredentials);
      if (err.code === "unauthorized" && withCredentials) {
        const user = creds.username === "" ? "" : ` for user ${JSON.stringify(creds.username)}`;
        throw new WalkError("unauthorized", `registry ${registry} rejected the credentials${user} (token service ${realm.host} answered ${res.status}); check them with walk login ${registry}`, { details: err.details });
      }
      throw err;
    }
    const body = await readBody(res, TOKEN_REPLY_LIMIT, `token reply from ${realm.host}`);
    const token = parseTokenReply(body, realm.host, withCredentials, (this.opts.now ?? Date.now)());
    return withheldFrom === undefined ? token : { ...token, withheldFrom };
  }
}

export function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

function parseTokenReply(body: Buffer, realmHost: string, withCredentials: boolean, now: number): Token {
  let reply: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
  try {
    reply = JSON.parse(body.toString("utf8")) as typeof reply;
  } catch {
    throw new WalkError("unavailable", `token service ${realmHost} answered with something that is not JSON`);
  }
  const value = typeof reply?.token === "string" && reply.token !== "" ? reply.token : reply?.access_token;
  if (typeof value !== "string" || value === "" || /[\r\n]/.test(value)) {
    throw new WalkError("unavailable", `token service ${realmHost} answered without a usable token or access_token`);
  }
  const lifetimeMs = (typeof reply.expires_in === "number" && reply.expires_in > 0 ? reply.expires_in : DEFAULT_TOKEN_LIFETIME_S) * 1000;
  // issued_at moves the expiry only when it is plausible; a skewed clock must not expire every token at once.
  const issued = typeof reply.issued_at === "string" ? Date.parse(reply.issued_at) : NaN;
  const base = Number.isFinite(issued) && issued <= now && issued > now - lifetimeMs ? issued : now;
  const margin = Math.min(MAX_REFRESH_MARGIN_MS, lifetimeMs / 10);
  return { header: `Bearer ${value}`, refreshAt: base + lifetimeMs - margin, withCredentials };
}
