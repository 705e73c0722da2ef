// The API client against small hostile servers on a Unix socket: oversized replies, replies that
// never come, non-JSON bodies, faults without a message, and a socket nobody listens on.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isWalkError } from "../../lib/index.js";
import { FirecrackerApiClient, MAX_RESPONSE_BYTES } from "./api-client.js";
import { describeInstance, putMachineConfig } from "./requests.js";

async function serve(t: TestContext, handler: http.RequestListener): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "walk-fcapi-"));
  const path = join(dir, "api.sock");
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });
  return path;
}

test("a 204 resolves undefined and a 200 its JSON; the body sent is the request's", async (t) => {
  let got = "";
  const path = await serve(t, (req, res) => {
    req.on("data", (c: Buffer) => (got += c.toString()));
    req.on("end", () => {
      if (req.method === "GET") res.end(JSON.stringify({ id: "x" }));
      else res.writeHead(204).end();
    });
  });
  const client = new FirecrackerApiClient(path, 1000);
  assert.equal(await client.send(putMachineConfig({ vcpu_count: 1, mem_size_mib: 64, smt: false })), undefined);
  assert.deepEqual(JSON.parse(got), { vcpu_count: 1, mem_size_mib: 64, smt: false });
  assert.deepEqual(await client.send(describeInstance()), { id: "x" });
});

test("an oversized reply is size_exceeded, naming the request", async (t) => {
  const path = await serve(t, (_req, res) => res.end("x".repeat(MAX_RESPONSE_BYTES + 1)));
  await assert.rejects(new FirecrackerApiClient(path, 1000).send(describeInstance()), (e) => isWalkError(e, "size_exceeded") && /reply to GET \//.test(e.message));
});

test("a reply that never comes is a timeout naming the request and the socket", async (t) => {
  const path = await serve(t, () => undefined);
  await assert.rejects(new FirecrackerApiClient(path, 100).send(describeInstance()), (e) => isWalkError(e, "timeout") && e.message.includes(`GET / within 100 ms (API socket ${path})`));
});

test("odd replies: non-JSON 200, a fault without a message, an unknown status", async (t) => {
  const path = await serve(t, (req, res) => {
    if (req.url === "/machine-config") res.writeHead(400).end("<html>");
    else if (req.method === "GET") res.end("not json");
    else res.writeHead(418).end(JSON.stringify({ fault_message: "teapot" }));
  });
  const client = new FirecrackerApiClient(path, 1000);
  await assert.rejects(client.send(describeInstance()), (e) => isWalkError(e, "internal") && /not JSON/.test(e.message));
  await assert.rejects(client.send(putMachineConfig({ vcpu_count: 1, mem_size_mib: 64, smt: false })), (e) => isWalkError(e, "invalid_argument") && /\(HTTP 400\): with no fault message/.test(e.message));
  await assert.rejects(client.send({ method: "PUT", path: "/x", body: {} }), (e) => isWalkError(e, "internal") && /PUT \/x \(HTTP 418\): "teapot"/.test(e.message) && e.details?.fault_message === "teapot");
});

test("a socket nobody serves is unavailable", async () => {
  await assert.rejects(new FirecrackerApiClient("/nonexistent/api.sock", 1000).send(describeInstance()), (e) => isWalkError(e, "unavailable") && /does not accept connections \(ENOENT\)/.test(e.message));
});
