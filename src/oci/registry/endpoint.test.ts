// The plain-HTTP decision, and the transport refusing plain HTTP before it connects anywhere.
import { test } from "node:test";
import assert from "node:assert/strict";
import { isWalkError } from "../../lib/errors.js";
import { isLoopbackHost, plainHttpAllowed, splitHostPort } from "./endpoint.js";
import { HttpTransport } from "./transport.js";
import { startServer } from "./testing.js";

test("loopback hosts are recognised without resolving names", () => {
  for (const h of ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "[::1]", "reg.localhost"]) assert.ok(isLoopbackHost(h), h);
  for (const h of ["10.0.0.1", "128.0.0.1", "::2", "localhost.example.com", "registry.example.com", "127.0.0.1.nip.io"]) assert.ok(!isLoopbackHost(h), h);
});

test("host:port splitting handles IPv6 brackets", () => {
  assert.deepEqual(splitHostPort("[::1]:5000"), { hostname: "::1", port: "5000" });
  assert.deepEqual(splitHostPort("Reg.Example:443"), { hostname: "reg.example", port: "443" });
  assert.deepEqual(splitHostPort("reg"), { hostname: "reg" });
});

test("plain HTTP: loopback by default, otherwise only hosts in the insecure list", () => {
  assert.ok(plainHttpAllowed("localhost:5000", {}));
  assert.ok(plainHttpAllowed("127.0.0.1:5000", {}));
  assert.ok(plainHttpAllowed("[::1]:5000", {}));
  assert.ok(!plainHttpAllowed("localhost:5000", { allowLoopbackPlainHttp: false }));
  assert.ok(!plainHttpAllowed("registry.example.com", {}));
  assert.ok(!plainHttpAllowed("10.1.2.3:5000", {}));
  const policy = { insecureRegistries: ["registry.lan:5000", "other.lan"] };
  assert.ok(plainHttpAllowed("registry.lan:5000", policy));
  assert.ok(!plainHttpAllowed("registry.lan:5001", policy), "a port in the entry must match");
  assert.ok(plainHttpAllowed("other.lan:8080", policy), "an entry without a port matches any port");
  assert.ok(!plainHttpAllowed("evil.other.lan", policy));
});

test("the transport refuses plain HTTP to a non-insecure host before connecting", async () => {
  const transport = new HttpTransport({});
  // registry.example.invalid cannot resolve; a refusal that tried to connect would say so instead.
  await assert.rejects(transport.send(new URL("http://registry.example.invalid/v2/")), (err: unknown) => {
    assert.ok(isWalkError(err, "forbidden"), String(err));
    assert.match(err.message, /refusing plain HTTP to registry\.example\.invalid/);
    return true;
  });
  await transport.close();
});

test("with the loopback default off, plain HTTP to 127.0.0.1 is refused and nothing is sent", async (t) => {
  const server = await startServer((_req, res) => res.end("hi"));
  const transport = new HttpTransport({ allowLoopbackPlainHttp: false });
  t.after(() => Promise.all([transport.close(), server.close()]));
  await assert.rejects(transport.send(new URL(`${server.origin}/v2/`)), (err: unknown) => isWalkError(err, "forbidden"));
  assert.equal(server.requests.length, 0);
});
