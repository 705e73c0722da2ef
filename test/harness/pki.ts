// Test harness: throwaway certificates made with the `openssl` binary. A CA and a server
// certificate for 127.0.0.1 and localhost (subjectAltName, which Go and Node both require), and a
// self-signed signing certificate for the test token service. EC P-256 keys keep generation fast.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execChecked } from "../../src/lib/exec.js";

export interface TestCa {
  certPath: string;
  keyPath: string;
  /** PEM of the CA certificate, to pass as `ca` to clients. */
  certPem: string;
}

export interface ServerCert {
  certPath: string;
  keyPath: string;
}

export interface SigningCert {
  certPath: string;
  /** PEM of the certificate (the registry's rootcertbundle). */
  certPem: string;
  /** PEM of the PKCS#8 private key. */
  keyPem: string;
  /** The certificate in DER, base64 (not url-safe): the JWT `x5c` entry. */
  derBase64: string;
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function selfSigned(dir: string, name: string, subject: string, extensions: string[]): Promise<{ certPath: string; keyPath: string }> {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  const ext = extensions.flatMap((e) => ["-addext", e]);
  await execChecked("openssl", ["req", "-x509", ...EC, "-keyout", keyPath, "-out", certPath, "-days", "2", "-subj", subject, ...ext]);
  return { certPath, keyPath };
}

export async function createCa(dir: string): Promise<TestCa> {
  const { certPath, keyPath } = await selfSigned(dir, "ca", "/CN=walk test CA", ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"]);
  return { certPath, keyPath, certPem: await readFile(certPath, "utf8") };
}

/** A server certificate signed by `ca`, valid for IP 127.0.0.1 and DNS localhost. */
export async function createServerCert(dir: string, ca: TestCa): Promise<ServerCert> {
  const keyPath = join(dir, "server.key");
  const csrPath = join(dir, "server.csr");
  const certPath = join(dir, "server.crt");
  const extPath = join(dir, "server.ext");
  await writeFile(
    extPath,
    ["subjectAltName=IP:127.0.0.1,DNS:localhost", "basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=serverAuth", ""].join("\n"),
  );
  await execChecked("openssl", ["req", ...EC, "-keyout", keyPath, "-out", csrPath, "-subj", "/CN=127.0.0.1"]);
  await execChecked("openssl", ["x509", "-req", "-in", csrPath, "-CA", ca.certPath, "-CAkey", ca.keyPath, "-CAcreateserial", "-out", certPath, "-days", "2", "-extfile", extPath]);
  return { certPath, keyPath };
}

/** A self-signed certificate whose key signs the token service's JWTs. */
export async function createSigningCert(dir: string): Promise<SigningCert> {
  const { certPath, keyPath } = await selfSigned(dir, "token-signer", "/CN=walk test token issuer", ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,digitalSignature,keyCertSign"]);
  const certPem = await readFile(certPath, "utf8");
  // A PEM body is the DER in base64, which is exactly what x5c wants.
  const derBase64 = certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, "");
  return { certPath, certPem, keyPem: await readFile(keyPath, "utf8"), derBase64 };
}
