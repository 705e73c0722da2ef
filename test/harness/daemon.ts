// Starts a real walkd in-process on a temp data dir and socket, with a client bound to it.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../src/lib/index.js";
import { loadConfig, type DaemonConfig } from "../../src/daemon/config.js";
import { startDaemon, type RunningDaemon } from "../../src/daemon/daemon.js";
import { WalkClient } from "../../src/cli/client.js";

export interface TestDaemon {
  dir: string;
  config: DaemonConfig;
  daemon: RunningDaemon;
  client: WalkClient;
  /** Stops the daemon (keeping its files) so a test can start another on the same dir. */
  stop(): Promise<void>;
  /** Stops the daemon and removes every file it made. */
  close(): Promise<void>;
}

export async function startTestDaemon(opts: { dir?: string; flags?: Parameters<typeof loadConfig>[0]["flags"] } = {}): Promise<TestDaemon> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), "walk-test-")));
  // A test walkd runs in the host's network namespace: its machines get no network unless the
  // test's own config says so (networking tests run walkd in a namespace they create).
  const defaults = join(dir, "walkd-test.toml");
  if (opts.flags?.config === undefined) await writeFile(defaults, '[machines]\nnetwork = "none"\n');
  const config = loadConfig({
    flags: { dataDir: join(dir, "data"), runtimeDir: join(dir, "run"), config: defaults, ...opts.flags },
    env: {},
  });
  const daemon = await startDaemon(config, silentLogger());
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await daemon.close();
  };
  return {
    dir,
    config,
    daemon,
    client: new WalkClient({ kind: "unix", path: daemon.socketPath }),
    stop,
    close: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
