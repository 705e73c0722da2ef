// Runs docker credential helpers (`docker-credential-NAME get|store|erase`) by the protocol docker
// uses: the server URL (or a JSON record) on stdin, JSON on stdout. Output is bounded, the helper
// name is checked so it cannot name a path, and a secret never appears in an error message.
import { WalkError } from "../../lib/errors.js";
import { execFile } from "../../lib/exec.js";
import { sanitize } from "./errors.js";
import type { Credentials } from "./credentials.js";

const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const HELPER_TIMEOUT_MS = 30_000;
const HELPER_OUTPUT_LIMIT = 64 * 1024;
/** What docker helpers put in Username when Secret is an identity (refresh) token. */
const IDENTITY_TOKEN_USER = "<token>";

async function runHelper(name: string, op: "get" | "store" | "erase", input: string, env?: NodeJS.ProcessEnv): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  if (!HELPER_NAME.test(name)) throw new WalkError("invalid_argument", `credential helper name ${JSON.stringify(name)} is not a plain name`);
  const cmd = `docker-credential-${name}`;
  const r = await execFile(cmd, [op], { input, env: env ?? process.env, timeoutMs: HELPER_TIMEOUT_MS, maxOutput: HELPER_OUTPUT_LIMIT });
  if (r.signal !== null) throw new WalkError("unavailable", `credential helper ${cmd} ${op} was killed by ${r.signal} (timeout ${HELPER_TIMEOUT_MS} ms?)`);
  return { ok: r.code === 0, stdout: r.stdout, stderr: r.stderr };
}

function helperFailure(name: string, op: string, serverUrl: string, r: { stdout: string; stderr: string }): WalkError {
  const said = sanitize((r.stderr.trim() || r.stdout.trim()).slice(0, 500));
  return new WalkError("unavailable", `credential helper docker-credential-${name} ${op} failed for ${serverUrl}: ${said}`);
}

/** Asks a helper for the credentials of `serverUrl`; undefined when it has none. */
export async function helperGet(name: string, serverUrl: string, env?: NodeJS.ProcessEnv): Promise<Credentials | undefined> {
  const r = await runHelper(name, "get", serverUrl, env);
  if (!r.ok) {
    if (/credentials not found/i.test(r.stdout + r.stderr)) return undefined;
    throw helperFailure(name, "get", serverUrl, r);
  }
  let reply: { Username?: unknown; Secret?: unknown };
  try {
    reply = JSON.parse(r.stdout) as typeof reply;
  } catch {
    throw new WalkError("unavailable", `credential helper docker-credential-${name} returned output that is not JSON for ${serverUrl}`);
  }
  if (typeof reply?.Secret !== "string" || reply.Secret === "") return undefined;
  const username = typeof reply.Username === "string" ? reply.Username : "";
  return username === IDENTITY_TOKEN_USER ? { username: "", identityToken: reply.Secret } : { username, password: reply.Secret };
}

export async function helperStore(name: string, serverUrl: string, creds: { username: string; password: string }, env?: NodeJS.ProcessEnv): Promise<void> {
  const r = await runHelper(name, "store", JSON.stringify({ ServerURL: serverUrl, Username: creds.username, Secret: creds.password }), env);
  if (!r.ok) throw helperFailure(name, "store", serverUrl, r);
}

export async function helperErase(name: string, serverUrl: string, env?: NodeJS.ProcessEnv): Promise<void> {
  const r = await runHelper(name, "erase", serverUrl, env);
  if (!r.ok && !/credentials not found/i.test(r.stdout + r.stderr)) throw helperFailure(name, "erase", serverUrl, r);
}
