// Opening walkd's listeners: the Unix socket (mode 0600, or 0660 with a group; a stale socket
// from a dead daemon is replaced) and the optional TCP listener, which requires a bearer token.
import { promises as fs } from "node:fs";
import { dirname } from "node:path";
import { WalkError } from "../lib/index.js";
import type { Api } from "../api/server.js";

export async function listenUnix(app: Api, socketPath: string, group: number | null): Promise<void> {
  await fs.mkdir(dirname(socketPath), { recursive: true, mode: 0o755 });
  const st = await fs.lstat(socketPath).catch(() => null);
  if (st) {
    if (!st.isSocket()) throw new WalkError("conflict", `${socketPath} exists and is not a socket; remove it or choose another --socket`);
    // The daemon lock is held, so any socket here belongs to a walkd that is gone.
    await fs.rm(socketPath);
  }
  const oldMask = process.umask(0o177);
  try {
    await app.listen({ path: socketPath });
  } finally {
    process.umask(oldMask);
  }
  if (group !== null) {
    await fs.chown(socketPath, 0, group);
    await fs.chmod(socketPath, 0o660);
  } else {
    await fs.chmod(socketPath, 0o600);
  }
}

export async function readToken(tokenFile: string): Promise<string> {
  const st = await fs.stat(tokenFile).catch(() => {
    throw new WalkError("invalid_argument", `cannot read the token file ${tokenFile}`);
  });
  if ((st.mode & 0o077) !== 0) throw new WalkError("invalid_argument", `the token file ${tokenFile} must not be readable by group or others (chmod 600)`);
  const token = (await fs.readFile(tokenFile, "utf8")).trim();
  if (token.length < 16) throw new WalkError("invalid_argument", `the token in ${tokenFile} is too short: use at least 16 characters`);
  return token;
}

/** Host names a browser may legitimately send to a loopback listener; anything else is DNS rebinding. */
export function allowedHostsFor(host: string): string[] {
  return ["localhost", "127.0.0.1", "[::1]", host.includes(":") ? `[${host}]` : host];
}
