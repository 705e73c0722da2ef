// A client for one registry's /v2/ API: picks the scheme (HTTPS, or plain HTTP when policy allows
// and the server does not speak TLS), pings /v2/ once to learn the auth challenge, sends requests
// with authorization, answers a 401 by refreshing authorization and retrying once, retries
// transient failures, and maps failed replies to WalkErrors. Knows no manifests or blobs.
import { WalkError } from "../../lib/errors.js";
import type { Logger } from "../../lib/log.js";
import { registryApiHost } from "../reference.js";
import { RegistryAuth, type Authorization } from "./auth.js";
import type { CredentialsResolver } from "./credentials.js";
import { plainHttpAllowed } from "./endpoint.js";
import { errorFromReply } from "./errors.js";
import { withRetry, type RetryOptions } from "./retry.js";
import { HttpTransport, isPlainHttpServerError, type HttpResponse, type TransportOptions } from "./transport.js";

export interface RegistryClientOptions extends TransportOptions {
  credentials?: CredentialsResolver;
  /** Token realm hosts, per registry API host, that may receive credentials (auth.docker.io is built in for Docker Hub). */
  trustedTokenRealms?: Readonly<Record<string, readonly string[]>>;
  retry?: RetryOptions;
  logger?: Logger;
  /** Clock for token expiry, for tests. */
  now?: () => number;
}

export interface RequestOptions {
  /** The token scope, e.g. "repository:library/nginx:pull". */
  scope?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Names the thing fetched in errors, e.g. "manifest docker.io/library/nginx:latest". */
  what: string;
}

export class RegistryClient {
  /** Canonical registry name ("docker.io"). */
  readonly registry: string;
  /** host[:port] requests go to ("registry-1.docker.io"). */
  readonly apiHost: string;
  private readonly transport: HttpTransport;
  private readonly auth: RegistryAuth;
  private readonly options: RegistryClientOptions;
  private base: Promise<URL> | undefined;

  constructor(registry: string, options: RegistryClientOptions = {}) {
    this.registry = registry;
    this.apiHost = registryApiHost(registry);
    this.options = options;
    this.transport = new HttpTransport(options);
    this.auth = new RegistryAuth({
      registry,
      apiHost: this.apiHost,
      transport: this.transport,
      credentials: options.credentials,
      trustedTokenRealms: options.trustedTokenRealms,
      logger: options.logger,
      now: options.now,
    });
  }

  /**
   * GETs `path` (below the registry root, e.g. "/v2/library/nginx/manifests/latest") and hands a
   * 2xx reply to `consume`. Transient failures anywhere in this, reading included, are retried;
   * when `consume` throws, the body is destroyed.
   */
  async get<T>(path: string, opts: RequestOptions, consume: (res: HttpResponse) => Promise<T>): Promise<T> {
    return withRetry(opts.what, async () => {
      const res = await this.send(path, opts);
      try {
        return await consume(res);
      } catch (err) {
        res.body.destroy();
        throw err;
      }
    }, this.options.retry ?? {}, opts.signal, this.options.logger);
  }

  /**
   * Checks that the registry answers and accepts the configured credentials (walk login): /v2/
   * with Basic, or with a token fetched with the credentials and no repository scope.
   */
  async login(signal?: AbortSignal): Promise<void> {
    await this.get("/v2/", { what: "the registry API root /v2/", signal }, async (res) => void res.body.resume());
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  private async send(path: string, opts: RequestOptions): Promise<HttpResponse> {
    const base = await this.endpoint();
    const url = new URL(path, base);
    let sent: Authorization = await this.auth.authorize(opts.scope);
    for (let retried = false; ; retried = true) {
      const res = await this.transport.send(url, { headers: opts.headers, authorization: sent.header, signal: opts.signal });
      if (res.status >= 200 && res.status < 300) return res;
      if (res.status === 401 && !retried && (await this.auth.refused(res.headers["www-authenticate"], opts.scope, sent))) {
        res.body.resume();
        sent = await this.auth.authorize(opts.scope);
        continue;
      }
      const authHint =
        sent.withheldFrom === undefined
          ? undefined
          : `your credentials were not sent to its token service ${sent.withheldFrom}, which is on another host; to trust it, add it under registry.trusted_token_realms for ${this.apiHost}`;
      throw await errorFromReply(res, { registry: this.registry, what: opts.what, authHint }, sent.withCredentials);
    }
  }

  /**
   * The registry root URL, found once: https, or http when allowed and the server is not TLS.
   * Concurrent requests share the ping, so no caller's AbortSignal cancels it; timeouts bound it.
   */
  private endpoint(): Promise<URL> {
    if (this.base === undefined) {
      const base = withRetry(`ping ${this.apiHost}`, () => this.ping(), this.options.retry ?? {}, undefined, this.options.logger);
      // A failed ping is not remembered: the next request tries again.
      base.catch(() => {
        if (this.base === base) this.base = undefined;
      });
      this.base = base;
    }
    return this.base;
  }

  private async ping(): Promise<URL> {
    let base = new URL(`https://${this.apiHost}/`);
    let res: HttpResponse;
    try {
      res = await this.transport.send(new URL("/v2/", base));
    } catch (err) {
      if (!isPlainHttpServerError(err) || !plainHttpAllowed(this.apiHost, this.options)) throw err;
      this.options.logger?.info({ registry: this.apiHost }, "registry does not speak TLS; using plain HTTP as the policy allows");
      base = new URL(`http://${this.apiHost}/`);
      res = await this.transport.send(new URL("/v2/", base));
    }
    if (res.status === 401) {
      res.body.resume();
      this.auth.setChallenge(res.headers["www-authenticate"]);
      return base;
    }
    if (res.status >= 200 && res.status < 300) {
      res.body.resume();
      return base;
    }
    const err = await errorFromReply(res, { registry: this.registry, what: "the registry API root /v2/" });
    if (res.status === 404) throw new WalkError("unavailable", `${this.apiHost} does not serve the registry API at /v2/`, { cause: err });
    throw err;
  }
}
