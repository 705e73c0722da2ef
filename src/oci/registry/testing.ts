// Test-only: in-process HTTP(S) servers on 127.0.0.1 port 0 that play a registry, well-behaved or
// hostile, for the registry client's unit tests. Records every request so tests can assert what
// was sent where (credentials above all). Not used by walk itself.
import http from "node:http";
import https from "node:https";
import { createHash } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export interface TestServer {
  /** "http://127.0.0.1:PORT" or "https://..." */
  origin: string;
  /** "127.0.0.1:PORT" */
  host: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface TlsServerOptions {
  key: string;
  cert: string;
  /** CA for client certificates; with it the server demands one. */
  clientCa?: string;
}

export async function startServer(handler: Handler, tls?: TlsServerOptions): Promise<TestServer> {
  const requests: RecordedRequest[] = [];
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    requests.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers });
    handler(req, res);
  };
  const server =
    tls === undefined
      ? http.createServer(listener)
      : https.createServer({ key: tls.key, cert: tls.cert, ca: tls.clientCa, requestCert: tls.clientCa !== undefined, rejectUnauthorized: tls.clientCa !== undefined }, listener);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const host = `127.0.0.1:${port}`;
  return {
    origin: `${tls === undefined ? "http" : "https"}://${host}`,
    host,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { "content-type": "application/json", "content-length": String(bytes.length), ...headers });
  res.end(bytes);
}

export function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { errors: [{ code, message }] }, headers);
}

export interface FakeContent {
  repository: string;
  /** By tag and by digest. */
  manifests: Map<string, { bytes: Buffer; mediaType: string }>;
  blobs: Map<string, Buffer>;
}

/** A content set with one OCI manifest tagged `tag` and the given blobs. */
export function fakeContent(repository: string, tag: string, blobs: Buffer[]): FakeContent {
  const blobMap = new Map(blobs.map((b) => [sha256(b), b]));
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(blobs[0] ?? ""), size: blobs[0]?.length ?? 0 },
      layers: blobs.slice(1).map((b) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(b), size: b.length })),
    }),
  );
  const manifest = { bytes, mediaType: "application/vnd.oci.image.manifest.v1+json" };
  return { repository, manifests: new Map([[tag, manifest], [sha256(bytes), manifest]]), blobs: blobMap };
}

/**
 * A well-behaved registry for `content`: /v2/, manifests by tag or digest with
 * Docker-Content-Digest, blobs with Range support. `authorized` decides whether a request may
 * pass; refused ones get 401 with `challenge`.
 */
export function registryHandler(content: FakeContent, authorized: (req: IncomingMessage) => boolean = () => true, challenge = 'Basic realm="test"'): Handler {
  const prefix = `/v2/${content.repository}/`;
  return (req, res) => {
    const path = (req.url ?? "").split("?")[0] ?? "";
    if (!authorized(req)) return sendError(res, 401, "UNAUTHORIZED", "authentication required", { "www-authenticate": challenge });
    if (path === "/v2/") return sendJson(res, 200, {});
    if (path.startsWith(`${prefix}manifests/`)) {
      const m = content.manifests.get(path.slice(`${prefix}manifests/`.length));
      if (m === undefined) return sendError(res, 404, "MANIFEST_UNKNOWN", "manifest unknown");
      res.writeHead(200, { "content-type": m.mediaType, "content-length": String(m.bytes.length), "docker-content-digest": sha256(m.bytes) });
      return void res.end(m.bytes);
    }
    if (path.startsWith(`${prefix}blobs/`)) {
      const blob = content.blobs.get(path.slice(`${prefix}blobs/`.length));
      if (blob === undefined) return sendError(res, 404, "BLOB_UNKNOWN", "blob unknown");
      return sendBlob(req, res, blob);
    }
    sendError(res, 404, "NAME_UNKNOWN", "repository name not known to registry");
  };
}

/** Serves `blob`, honouring `Range: bytes=N-` with a 206. */
export function sendBlob(req: IncomingMessage, res: ServerResponse, blob: Buffer): void {
  const range = /^bytes=([0-9]+)-$/.exec(req.headers.range ?? "");
  if (range) {
    const from = Number(range[1]);
    res.writeHead(206, { "content-length": String(blob.length - from), "content-range": `bytes ${from}-${blob.length - 1}/${blob.length}`, "docker-content-digest": sha256(blob) });
    return void res.end(blob.subarray(from));
  }
  res.writeHead(200, { "content-length": String(blob.length), "docker-content-digest": sha256(blob) });
  res.end(blob);
}

/** Collects a stream into one Buffer. */
export async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}
