// walkd's apps wiring: the AppService over the machine orchestrator, and the activator (the apps'
// HTTP entry point) serving every app's routes. The daemon calls startApps once; nothing else here.
import { Activator } from "../activator/index.js";
import { isWalkError, type Logger } from "../lib/index.js";
import type { Db } from "../store/index.js";
import type { ActivatorDaemonConfig } from "./activator-config.js";
import type { AppMachines } from "./machines.js";
import { AppService } from "./service.js";
import { AppRepository } from "./store.js";

export interface RunningApps {
  apps: AppService;
  /** Where the activator listens; null when the default address was taken (walkd runs on without it). */
  activatorAddress: { host: string; port: number } | null;
  close(): Promise<void>;
}

export async function startApps(opts: { db: Db; machines: AppMachines; log: Logger; config: ActivatorDaemonConfig; stopTimeoutMs: number }): Promise<RunningApps> {
  const { log, config } = opts;
  const apps = new AppService({ repo: new AppRepository(opts.db), machines: opts.machines, log, stopTimeoutMs: opts.stopTimeoutMs });
  let activator: Activator | null = null;
  try {
    activator = await Activator.start({ listen: config.listen, logger: log, ...(config.startingPage !== undefined ? { startingPage: config.startingPage } : {}) });
    await apps.attach(activator);
  } catch (err) {
    await activator?.close();
    // Only the default address may be missing: another walkd (or a test daemon) may hold it.
    if (config.configured || !isWalkError(err, "conflict")) throw err;
    log.warn({ err, listen: config.listen }, "the activator's default address is in use; apps are not served (set [activator] listen in walkd.toml)");
    apps.withoutActivator(`walkd started without its activator (${err.message}); set [activator] listen in walkd.toml and restart walkd`);
    activator = null;
  }
  return {
    apps,
    activatorAddress: activator?.address ?? null,
    close: async () => {
      apps.close();
      await activator?.close();
    },
  };
}
