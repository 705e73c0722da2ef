// One walkd owns networking per network namespace: walk's table and its wk* taps are per
// namespace, so a second walkd there would replace the first one's table and its reconcile would
// delete the first one's taps. The claim is an abstract Unix socket, which the kernel scopes to
// the network namespace and frees when its process dies (a crash never leaves a stale claim).
// It claims the namespace walkd runs in; it does not look at network.netns.
import { createServer, type Server } from "node:net";
import { WalkError } from "../lib/index.js";

/** The abstract socket name (a leading NUL puts it in the abstract namespace). */
export const OWNER_SOCKET = "\0walk-network-owner";

export interface NamespaceClaim {
  release(): Promise<void>;
}

/** Claims this network namespace for walk's networking; undefined when another process holds it. */
export function claimNetworkNamespace(name = OWNER_SOCKET): Promise<NamespaceClaim | undefined> {
  return new Promise((resolve, reject) => {
    const server: Server = createServer((s) => s.destroy());
    server.once("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EADDRINUSE") resolve(undefined);
      else reject(new WalkError("internal", `cannot claim the network namespace for walk's networking: ${err.message}`));
    });
    server.listen({ path: name }, () => {
      server.unref();
      resolve({ release: () => new Promise<void>((r) => server.close(() => r())) });
    });
  });
}
