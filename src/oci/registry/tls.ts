// TLS material for a registry host from certs directories in the style of
// /etc/docker/certs.d/HOST[:PORT]/: every *.crt is a CA added to the system roots, and each
// NAME.cert with its NAME.key is a client certificate. The first directory that has a folder for
// the host wins. Reads files bounded; never disables verification.
import { promises as fs, createReadStream } from "node:fs";
import { join } from "node:path";
import { rootCertificates } from "node:tls";
import { WalkError } from "../../lib/errors.js";
import { readBounded } from "../../lib/bounded.js";

export const DEFAULT_CERTS_DIRS: readonly string[] = ["/etc/walk/certs.d", "/etc/docker/certs.d"];
const CERT_FILE_LIMIT = 1 << 20;

export interface TlsMaterial {
  /** System roots plus the host's custom CAs; undefined when the host has none (use defaults). */
  ca?: string[];
  cert?: string;
  key?: string;
  /** The folder the material came from, for messages. */
  dir?: string;
}

async function readCertFile(path: string): Promise<string> {
  return (await readBounded(createReadStream(path), CERT_FILE_LIMIT, `certificate file ${path}`)).toString("utf8");
}

/** Loads the TLS material for `hostPort` ("host" or "host:port", as in the URL). */
export async function loadTlsMaterial(hostPort: string, certsDirs: readonly string[]): Promise<TlsMaterial> {
  // A folder name with a path separator or ".." could escape the certs directory.
  if (hostPort.includes("/") || hostPort.includes("..")) return {};
  for (const base of certsDirs) {
    const dir = join(base, hostPort);
    let names: string[];
    try {
      names = (await fs.readdir(dir)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") continue;
      throw err;
    }
    const material: TlsMaterial = { dir };
    const cas = await Promise.all(names.filter((n) => n.endsWith(".crt")).map((n) => readCertFile(join(dir, n))));
    if (cas.length > 0) material.ca = [...rootCertificates, ...cas];
    const certName = names.find((n) => n.endsWith(".cert"));
    if (certName !== undefined) {
      const keyName = certName.replace(/\.cert$/, ".key");
      if (!names.includes(keyName)) {
        throw new WalkError("invalid_argument", `client certificate ${join(dir, certName)} has no matching key ${keyName}`);
      }
      material.cert = await readCertFile(join(dir, certName));
      material.key = await readCertFile(join(dir, keyName));
    }
    return material;
  }
  return {};
}
