// Test harness: a real registry (Debian's docker-registry, distribution 2.8) on 127.0.0.1 on a
// free port, with its config, storage, certificates and log in one temp dir removed on stop.
// Modes: "plain" (HTTP, anonymous), "tls-basic" (HTTPS with a test CA, htpasswd Basic auth) and
// "token" (bearer token auth against the test token service, HTTP or HTTPS). Its log file is kept
// until stop() and quoted in start errors; call logs() from a failing test to see what it said.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execChecked } from "../../src/lib/exec.js";
import { pushToRegistry, type Built } from "../fixtures/images.js";
import { createCa, createServerCert, createSigningCert, type TestCa } from "./pki.js";
import { startTokenService, type TokenService, type TokenServiceOptions } from "./token-service.js";

export const REGISTRY_BIN = "/usr/bin/docker-registry";

export type RegistryMode = "plain" | "tls-basic" | "token";

export interface RegistryOptions {
  /** Default "plain". */
  mode?: RegistryMode;
  /** Serve HTTPS; implied by "tls-basic", optional for "token" (default false there). */
  tls?: boolean;
  /** Users for htpasswd or the token service; default { walk: "walk-secret" }. */
  users?: Record<string, string>;
  /** Token mode only: see TokenServiceOptions. */
  token?: Pick<TokenServiceOptions, "anonymousPull" | "ttlSeconds" | "tokenField">;
}

export interface RunningRegistry {
  mode: RegistryMode;
  /** "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT". */
  url: string;
  /** "127.0.0.1:PORT", as it appears in image references. */
  host: string;
  port: number;
  /** The first configured user, for tests that need one set of good credentials. */
  credentials: { username: string; password: string } | undefined;
  /** The test CA when TLS is on. */
  ca: TestCa | undefined;
  /** A docker-style certs dir holding `<host>/ca.crt` when TLS is on. */
  certsDir: string | undefined;
  tokenService: TokenService | undefined;
  /** The temp dir holding config, storage, certs and the log. */
  dir: string;
  logPath: string;
  logs(): Promise<string>;
  /** Pushes with the harness's own client (good credentials, the CA); returns the root digest. */
  push(repo: string, tag: string | undefined, built: Built): Promise<string>;
  stop(): Promise<void>;
}

const SERVICE = "walk-test-registry";
const ISSUER = "walk-test-issuer";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function probe(url: string, ca: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const fn = url.startsWith("https:") ? httpsRequest : httpRequest;
    const req = fn(`${url}/v2/`, { method: "GET", timeout: 1000, ...(ca ? { ca } : {}) }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy(new Error("probe timed out")));
    req.on("error", reject);
    req.end();
  });
}

function configYaml(o: { port: number; dir: string; tls?: { cert: string; key: string }; auth: string }): string {
  return [
    "version: 0.1",
    "log:",
    "  level: info",
    "  formatter: text",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${join(o.dir, "data")}`,
    "  delete:",
    "    enabled: true",
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    `  addr: 127.0.0.1:${o.port}`,
    `  secret: ${randomBytes(16).toString("hex")}`,
    ...(o.tls ? ["  tls:", `    certificate: ${o.tls.cert}`, `    key: ${o.tls.key}`] : []),
    o.auth,
    "",
  ].join("\n");
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
}

async function launch(configPath: string, logPath: string): Promise<ChildProcess> {
  const log = await open(logPath, "a");
  try {
    // setpriv makes the kernel kill the registry if this test process dies without stop().
    const child = spawn("setpriv", ["--pdeathsig", "KILL", "--", REGISTRY_BIN, "serve", configPath], { stdio: ["ignore", log.fd, log.fd] });
    child.on("error", () => undefined); // a failed spawn shows as an exit code below
    return child;
  } finally {
    await log.close();
  }
}

/**
 * Waits until our registry answers /v2/. Its log line "listening on 127.0.0.1:PORT" proves the
 * answer came from it and not from another process that got the port first.
 */
async function waitReady(child: ChildProcess, url: string, port: number, ca: string | undefined, logs: () => Promise<string>): Promise<"ready" | "exited" | "timeout"> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) return "exited";
    const status = await probe(url, ca).catch(() => 0);
    if ((status === 200 || status === 401) && (await logs()).includes(`listening on 127.0.0.1:${port}`)) return "ready";
    if (Date.now() > deadline) return "timeout";
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts a registry and waits until /v2/ answers. Always pair with stop() (in after()). */
export async function startRegistry(opts: RegistryOptions = {}): Promise<RunningRegistry> {
  const mode = opts.mode ?? "plain";
  const tls = mode === "tls-basic" || (mode === "token" && opts.tls === true);
  const users = opts.users ?? { walk: "walk-secret" };
  const dir = await mkdtemp(join(tmpdir(), "walk-registry-"));
  const logPath = join(dir, "registry.log");
  const logs = (): Promise<string> => readFile(logPath, "utf8").catch(() => "");
  let child: ChildProcess | undefined;
  let tokenService: TokenService | undefined;

  const stop = async (): Promise<void> => {
    if (child) {
      const done = exited(child);
      child.kill("SIGTERM");
      const timer = setTimeout(() => child?.kill("SIGKILL"), 5000);
      await done;
      clearTimeout(timer);
    }
    await tokenService?.close();
    await rm(dir, { recursive: true, force: true });
  };

  try {
    let ca: TestCa | undefined;
    let tlsFiles: { cert: string; key: string } | undefined;
    if (tls) {
      const pki = join(dir, "pki");
      await mkdir(pki);
      ca = await createCa(pki);
      const server = await createServerCert(pki, ca);
      tlsFiles = { cert: server.certPath, key: server.keyPath };
    }

    let auth = "";
    if (mode === "tls-basic") {
      const lines: string[] = [];
      for (const [u, p] of Object.entries(users)) lines.push((await execChecked("htpasswd", ["-Bbn", u, p])).stdout.trim());
      await writeFile(join(dir, "htpasswd"), `${lines.join("\n")}\n`);
      auth = ["auth:", "  htpasswd:", "    realm: walk-test", `    path: ${join(dir, "htpasswd")}`].join("\n");
    } else if (mode === "token") {
      const signer = await createSigningCert(dir);
      tokenService = await startTokenService({ issuer: ISSUER, service: SERVICE, signer, users, ...opts.token });
      auth = ["auth:", "  token:", `    realm: ${tokenService.realm}`, `    service: ${SERVICE}`, `    issuer: ${ISSUER}`, `    rootcertbundle: ${signer.certPath}`].join("\n");
    }

    // A free port can be taken by someone else before the registry binds it: then it exits
    // with "address already in use" and we try another one.
    let port = 0;
    let certsDir: string | undefined;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      if (ca) {
        certsDir = join(dir, "certs.d");
        await rm(certsDir, { recursive: true, force: true });
        await mkdir(join(certsDir, `127.0.0.1:${port}`), { recursive: true });
        await writeFile(join(certsDir, `127.0.0.1:${port}`, "ca.crt"), ca.certPem);
      }
      const configPath = join(dir, "config.yml");
      await writeFile(configPath, configYaml({ port, dir, ...(tlsFiles ? { tls: tlsFiles } : {}), auth }));
      child = await launch(configPath, logPath);
      const outcome = await waitReady(child, `${tls ? "https" : "http"}://127.0.0.1:${port}`, port, ca?.certPem, logs);
      if (outcome === "ready") break;
      if (outcome !== "exited" || attempt >= 3 || !/address already in use/.test(await logs())) {
        throw new Error(`docker-registry ${outcome === "exited" ? "exited during start-up" : "did not answer within 15 s"}:\n${(await logs()).slice(-4000)}`);
      }
    }
    const host = `127.0.0.1:${port}`;
    const url = `${tls ? "https" : "http"}://${host}`;

    const first = Object.entries(users)[0];
    const credentials = mode === "plain" || !first ? undefined : { username: first[0], password: first[1] };
    return {
      mode,
      url,
      host,
      port,
      credentials,
      ca,
      certsDir,
      tokenService,
      dir,
      logPath,
      logs,
      push: (repo, tag, built) => pushToRegistry(url, repo, tag, built, { ...(credentials ? { auth: credentials } : {}), ...(ca ? { ca: ca.certPem } : {}) }),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
