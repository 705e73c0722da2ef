// The composition root: takes the daemon lock, opens the database, reconciles it with the files on
// disk, builds the services and serves the API. startDaemon is what `walkd` and the tests call.
import { promises as fs } from "node:fs";
import { WALK_VERSION, type Logger } from "../lib/index.js";
import { openDatabase, ImageRepository, JobRepository, MachineRepository, IdempotencyRepository } from "../store/index.js";
import { MachineService, backendReport } from "../machine/index.js";
import { NetworkManager, claimNetworkNamespace } from "../net/index.js";
import { startApps } from "../apps/daemon.js";
import { JobService } from "../service/jobs.js";
import { ImageService } from "../service/images.js";
import { BaseService } from "../service/bases.js";
import { doctorReport } from "../service/doctor.js";
import { buildApi } from "../api/server.js";
import type { DaemonConfig } from "./config.js";
import { acquireDaemonLock } from "./lock.js";
import { daemonPaths, type DaemonPaths } from "./paths.js";
import { allowedHostsFor, listenUnix, readToken } from "./listen.js";

export interface RunningDaemon {
  paths: DaemonPaths;
  socketPath: string;
  /** The TCP listener's address when one is configured (port 0 in config resolves here). */
  tcpAddress: { host: string; port: number } | null;
  /** The activator's address (null when its default address was taken). */
  activatorAddress: { host: string; port: number } | null;
  close(): Promise<void>;
}

export async function startDaemon(config: DaemonConfig, log: Logger): Promise<RunningDaemon> {
  const paths = daemonPaths(config.dataDir, config.runtimeDir);
  await fs.mkdir(paths.dataDir, { recursive: true, mode: 0o711 });
  await fs.mkdir(paths.runtimeDir, { recursive: true, mode: 0o755 });
  const lock = await acquireDaemonLock(paths.dataDir);
  const cleanups: (() => Promise<void> | void)[] = [() => lock.release()];
  const close = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) await fn();
  };
  try {
    const db = openDatabase(paths.database);
    cleanups.push(() => {
      db.close();
    });
    const jobRepo = new JobRepository(db);
    const interrupted = jobRepo.failInterrupted();
    if (interrupted > 0) log.warn({ jobs: interrupted }, "marked jobs interrupted by the previous walkd as failed");

    const jobs = new JobService(jobRepo, log);
    cleanups.push(() => jobs.shutdown());
    const images = await ImageService.open({ repo: new ImageRepository(db), paths, registry: config.registry, jobs, log });
    await images.reconcile();

    const bases = new BaseService(paths.dataDir, jobs, log);
    const backend = await backendReport(config.machines.backends);
    log.info({ backend: backend.chosen, reasons: backend.reasons }, "machine backend");
    // One walkd per network namespace owns walk's table and taps; another one here runs machines without a network.
    const claim = await claimNetworkNamespace();
    if (claim) cleanups.push(() => claim.release());
    else log.warn("another walkd owns networking in this network namespace: new machines get network \"none\" and networked ones cannot start here");
    // Closed after the machines (cleanups run in reverse): proxies and DNS forwarders stop, taps and the table stay for VMs that run on.
    const network = claim ? new NetworkManager({ db, config: config.network, logger: log }) : undefined;
    if (network) cleanups.push(() => network.close());
    const machines = new MachineService({
      repo: new MachineRepository(db),
      idempotency: new IdempotencyRepository(db),
      images,
      jobs,
      paths,
      log,
      config: { ...config.machines, backend: backend.chosen, defaultNetwork: network ? config.machines.defaultNetwork : "none" },
      ...(network ? { network } : {}),
    });
    cleanups.push(() => machines.close());
    await machines.reconcile();
    const doctor = () => doctorReport({ dataDir: paths.dataDir, backends: config.machines.backends });
    const apps = await startApps({ db, machines, log, config: config.activator, stopTimeoutMs: config.machines.stopTimeoutMs });
    cleanups.push(() => apps.close());
    const services = { version: WALK_VERSION, jobs, images, bases, machines, apps: apps.apps, doctor };
    const unixApi = await buildApi(services, log);
    cleanups.push(() => unixApi.close());
    await listenUnix(unixApi, config.socketPath, config.socketGroup);

    let tcpAddress: RunningDaemon["tcpAddress"] = null;
    if (config.tcp) {
      const token = await readToken(config.tcp.tokenFile);
      const tcpApi = await buildApi(services, log, { token, allowedHosts: allowedHostsFor(config.tcp.host) });
      cleanups.push(() => tcpApi.close());
      await tcpApi.listen({ host: config.tcp.host, port: config.tcp.port });
      const addr = tcpApi.server.address();
      tcpAddress = addr && typeof addr === "object" ? { host: addr.address, port: addr.port } : null;
    }
    log.info({ socket: config.socketPath, tcp: tcpAddress, dataDir: paths.dataDir }, "walkd is ready");
    return { paths, socketPath: config.socketPath, tcpAddress, activatorAddress: apps.activatorAddress, close };
  } catch (err) {
    await close();
    throw err;
  }
}
