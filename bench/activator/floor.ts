// A node:http reference proxy for the warm-path comparison: the smallest correct-enough proxy
// node's own HTTP stack makes (keep-alive agent, pipe both ways, headers passed as they are; no
// routing, no rewriting, no accounting). The activator speaks HTTP/1.1 on raw sockets instead;
// this row shows what that buys. Benchmark use only.
import { Agent, createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export async function startFloorProxy(upstreamPort: number): Promise<{ port: number; close(): Promise<void> }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1024, noDelay: true });
  const server: Server = createServer((req, res) => {
    const up = request({ host: "127.0.0.1", port: upstreamPort, method: req.method, path: req.url, headers: req.headers, agent }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        agent.destroy();
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
