// TLS with certs.d folders: a CA and server certificate made with openssl for 127.0.0.1, a registry
// that only trusts the CA's client certificates, and what happens with and without the CA.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execChecked } from "../../lib/exec.js";
import { isWalkError } from "../../lib/errors.js";
import { parseRegistryReference } from "../reference.js";
import { RegistrySource } from "./source.js";
import { loadTlsMaterial } from "./tls.js";
import { fakeContent, registryHandler, startServer } from "./testing.js";

let dir: string;
const pem: Record<string, string> = {};
const content = fakeContent("tls/app", "v1", [Buffer.from("{}")]);

async function openssl(...args: string[]): Promise<void> {
  await execChecked("openssl", args, { cwd: dir });
}

/** Issues NAME.crt/NAME.key signed by the test CA with the given extensions. */
async function issue(name: string, cn: string, ext: string): Promise<void> {
  await openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`);
  await fs.writeFile(join(dir, `${name}.ext`), ext);
  await openssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.crt`, "-days", "2", "-extfile", `${name}.ext`);
}

before(async () => {
  dir = await fs.mkdtemp(join(tmpdir(), "walk-tls-"));
  await openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=walk test CA");
  await issue("server", "127.0.0.1", "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
  await issue("client", "walk client", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
  for (const f of ["ca.crt", "server.crt", "server.key", "client.crt", "client.key"]) pem[f] = await fs.readFile(join(dir, f), "utf8");
});
after(() => fs.rm(dir, { recursive: true, force: true }));

async function certsDir(name: string, host: string, files: Record<string, string>): Promise<string> {
  const base = join(dir, name);
  await fs.mkdir(join(base, host), { recursive: true });
  for (const [file, text] of Object.entries(files)) await fs.writeFile(join(base, host, file), text);
  return base;
}

test("a custom CA from a certs.d folder makes the registry's certificate trusted", async (t) => {
  const server = await startServer(registryHandler(content), { key: pem["server.key"]!, cert: pem["server.crt"]! });
  const certs = await certsDir("trusted", server.host, { "ca.crt": pem["ca.crt"]! });
  const src = new RegistrySource(parseRegistryReference(`${server.host}/tls/app:v1`), { certsDirs: [join(dir, "empty"), certs], retry: { attempts: 1 } });
  t.after(() => Promise.all([src.close(), server.close()]));
  const m = await src.getRootManifest();
  assert.deepEqual(m.bytes, content.manifests.get("v1")!.bytes);
});

test("without the CA the connection fails with advice, and does not fall back to plain HTTP", async (t) => {
  const server = await startServer(registryHandler(content), { key: pem["server.key"]!, cert: pem["server.crt"]! });
  const src = new RegistrySource(parseRegistryReference(`${server.host}/tls/app:v1`), { certsDirs: [join(dir, "nothing-here")], retry: { attempts: 1 } });
  t.after(() => Promise.all([src.close(), server.close()]));
  await assert.rejects(src.getRootManifest(), (err: unknown) => {
    assert.ok(isWalkError(err, "unavailable"), String(err));
    assert.match(err.message, /certificate/);
    assert.ok(err.message.includes(join(dir, "nothing-here", server.host, "ca.crt")), err.message);
    return true;
  });
  assert.equal(server.requests.length, 0);
});

test("a client certificate pair (NAME.cert + NAME.key) is presented when the registry demands one", async (t) => {
  const server = await startServer(registryHandler(content), { key: pem["server.key"]!, cert: pem["server.crt"]!, clientCa: pem["ca.crt"]! });
  const withClient = await certsDir("mtls", server.host, { "ca.crt": pem["ca.crt"]!, "client.cert": pem["client.crt"]!, "client.key": pem["client.key"]! });
  const withoutClient = await certsDir("mtls-none", server.host, { "ca.crt": pem["ca.crt"]! });
  const good = new RegistrySource(parseRegistryReference(`${server.host}/tls/app:v1`), { certsDirs: [withClient], retry: { attempts: 1 } });
  const bad = new RegistrySource(parseRegistryReference(`${server.host}/tls/app:v1`), { certsDirs: [withoutClient], retry: { attempts: 1 } });
  t.after(() => Promise.all([good.close(), bad.close(), server.close()]));
  await good.getRootManifest();
  await assert.rejects(bad.getRootManifest(), (err: unknown) => isWalkError(err, "unavailable"));
});

test("loadTlsMaterial: host:port folder, every *.crt, the first directory with a folder wins", async () => {
  const first = await certsDir("order-a", "reg.test:5000", { "ca.crt": pem["ca.crt"]!, "extra.crt": pem["server.crt"]! });
  const second = await certsDir("order-b", "reg.test:5000", { "ca.crt": "ignored" });
  const m = await loadTlsMaterial("reg.test:5000", [join(dir, "absent"), first, second]);
  assert.equal(m.dir, join(first, "reg.test:5000"));
  const ca = m.ca ?? [];
  assert.ok(ca.includes(pem["ca.crt"]!) && ca.includes(pem["server.crt"]!));
  assert.ok(!ca.includes("ignored"));
  assert.ok(ca.length > 2, "the system roots stay trusted");
  assert.deepEqual(await loadTlsMaterial("reg.test", [first]), {}, "host without port is another folder");
  assert.deepEqual(await loadTlsMaterial("../order-a/reg.test:5000", [first]), {}, "no escaping the certs directory");
});

test("a client certificate without its key is a clear error", async () => {
  const base = await certsDir("halfpair", "reg.test", { "client.cert": pem["client.crt"]! });
  await assert.rejects(loadTlsMaterial("reg.test", [base]), (err: unknown) => isWalkError(err, "invalid_argument") && /has no matching key client\.key/.test(err.message));
});
