// Test harness: the token service of the distribution token-auth flow, for a real docker-registry
// configured with `auth: token:`. It checks Basic credentials (or lets anonymous clients pull),
// and issues ES256 JWTs whose `x5c` header carries the signing certificate, which the registry
// verifies against its rootcertbundle (docker-registry 2.8 tries x5c, then jwk, then kid).
// The registry adds 60 s of leeway to `exp`; the service subtracts it so a token really stops
// working `ttlSeconds` after it was issued, which lets tests prove a client refreshes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomBytes, sign } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { SigningCert } from "./pki.js";

/** The registry's clock-skew allowance on `exp` (registry/auth/token: Leeway). */
export const REGISTRY_LEEWAY_SECONDS = 60;

export interface TokenServiceOptions {
  issuer: string;
  service: string;
  signer: SigningCert;
  /** username -> password; a client with these gets every action it asks for. */
  users: Record<string, string>;
  /** Anonymous clients get "pull" on every repository (default true); otherwise an empty grant. */
  anonymousPull?: boolean;
  /** Lifetime reported as expires_in and enforced by the registry; default 300. */
  ttlSeconds?: number;
  /** Which reply field carries the token; default "token". */
  tokenField?: "token" | "access_token" | "both";
}

export interface IssuedToken {
  /** The authenticated user, or undefined for anonymous. */
  user: string | undefined;
  /** The scope parameters as requested. */
  scopes: string[];
  /** What was granted, as "repository:name:action,action". */
  granted: string[];
  issuedAt: Date;
}

export interface TokenService {
  /** The realm URL, e.g. http://127.0.0.1:PORT/token. */
  realm: string;
  /** Every token issued, in order. */
  readonly issued: readonly IssuedToken[];
  /** Requests refused with 401 (bad credentials). */
  readonly refused: number;
  /** Changes the policy for tokens issued from now on. */
  configure(policy: { ttlSeconds?: number; anonymousPull?: boolean }): void;
  close(): Promise<void>;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString("base64url");

interface Access {
  type: string;
  name: string;
  actions: string[];
}

function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  if (first < 0 || last === first) return undefined;
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(",").filter(Boolean) };
}

function basicUser(req: IncomingMessage): { user: string; password: string } | undefined {
  const h = req.headers.authorization;
  if (!h?.toLowerCase().startsWith("basic ")) return undefined;
  const decoded = Buffer.from(h.slice(6), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export async function startTokenService(opts: TokenServiceOptions): Promise<TokenService> {
  let ttl = opts.ttlSeconds ?? 300;
  let anonymousPull = opts.anonymousPull ?? true;
  const issued: IssuedToken[] = [];
  let refused = 0;

  const jwt = (subject: string, access: Access[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "ES256", x5c: [opts.signer.derBase64] };
    const claims = {
      iss: opts.issuer,
      sub: subject,
      aud: opts.service,
      exp: now + ttl - REGISTRY_LEEWAY_SECONDS,
      nbf: now,
      iat: now,
      jti: randomBytes(12).toString("hex"),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign("sha256", Buffer.from(input), { key: opts.signer.keyPem, dsaEncoding: "ieee-p1363" });
    return `${input}.${b64url(signature)}`;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", "http://token.invalid");
    if (url.pathname !== "/token" || req.method !== "GET") {
      res.writeHead(404).end();
      return;
    }
    const creds = basicUser(req);
    if (req.headers.authorization !== undefined && (!creds || opts.users[creds.user] !== creds.password)) {
      refused++;
      res.writeHead(401, { "content-type": "application/json", "www-authenticate": 'Basic realm="walk-test-token"' });
      res.end(JSON.stringify({ details: "incorrect username or password" }));
      return;
    }
    const scopes = url.searchParams.getAll("scope").flatMap((s) => s.split(" ")).filter(Boolean);
    const access: Access[] = [];
    for (const s of scopes) {
      const a = parseScope(s);
      if (!a) continue;
      const actions = creds ? a.actions : anonymousPull ? a.actions.filter((x) => x === "pull") : [];
      if (actions.length > 0) access.push({ ...a, actions });
    }
    const token = jwt(creds?.user ?? "", access);
    issued.push({ user: creds?.user, scopes, granted: access.map((a) => `${a.type}:${a.name}:${a.actions.join(",")}`), issuedAt: new Date() });
    const field = opts.tokenField ?? "token";
    const body = {
      ...(field !== "access_token" ? { token } : {}),
      ...(field !== "token" ? { access_token: token } : {}),
      expires_in: ttl,
      issued_at: new Date().toISOString(),
    };
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    issued,
    get refused() {
      return refused;
    },
    configure(policy) {
      ttl = policy.ttlSeconds ?? ttl;
      anonymousPull = policy.anonymousPull ?? anonymousPull;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
