// The machine orchestrator: the only place that combines images, the guest base, a VMM driver and
// the store for machines. Create (pull + app disk), start, stop, kill, restart, rm, inspect, list,
// wait, logs, suspend and restore (a restored guest counts as started only once its init confirmed
// its clock and entropy were refreshed); supervision of running VMs (exit status from the console,
// restart policy with backoff); reconcile after a daemon restart. Every transition is persisted
// before its side effect, and operations on one machine are serialised. It must not know about HTTP.
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { WalkError, asWalkError, isWalkError, newId, type Logger } from "../lib/index.js";
import { AgentChannel, REFRESH_CONTRACT, describeStatus, resolveBase, type GuestStatus } from "../base/index.js";
import { isSameProcessAlive, type MachineSpec, type VmBackend, type VmDriver, type VmExit, type VmHandle, type VmTimeouts } from "../vm/index.js";
import type { IdempotencyRepository, MachineChange, MachineRecord, MachineRepository, MachineState } from "../store/index.js";
import type { ImageService } from "../service/images.js";
import type { JobService } from "../service/jobs.js";
import type { DaemonPaths } from "../daemon/paths.js";
import type { AppDiskResultWire } from "../api/schemas.js";
import type { CreateMachineRequest, MachineWire } from "../api/machine-schemas.js";
import { machineBootArgs, stopSignalNumber } from "./bootargs.js";
import { createDriver, type BackendConfig } from "./backend.js";
import { ConsoleTailer, DEFAULT_CONSOLE_MAX_BYTES, appendBootMarker, consoleTail, readLogs, scanBootStatus } from "./console.js";
import { MACHINE_ID, machinePaths, machinesDataRoot, machinesRuntimeRoot, type MachinePaths } from "./paths.js";
import { DEFAULT_BACKOFF, decideRestart, formatRestartPolicy, parseRestartPolicy, type BackoffConfig, type RestartPolicy } from "./policy.js";
import { DEFAULT_RESOURCES, generateMachineName, validateMachineName, validateResources } from "./names.js";
import { ensureStateDisk } from "./statedisk.js";
import { MachineNetworking, type BootNetwork, type NetworkMode } from "./network.js";
import { hasSnapshot, removeSnapshot, snapshotFiles } from "./suspend.js";
import type { NetworkManager } from "../net/index.js";

export interface MachinesConfig {
  backends: BackendConfig;
  /** The backend new machines get (from backendReport at daemon start); null: none can run here. */
  backend: VmBackend | null;
  backoff: BackoffConfig;
  consoleMaxBytes: number;
  /** Default graceful-stop timeout. */
  stopTimeoutMs: number;
  vmTimeouts?: Partial<VmTimeouts>;
  /** How often the console of a running machine is read. */
  pollMs: number;
  /** How long a restored guest has to confirm its clock and entropy refresh before its VM is killed. */
  refreshTimeoutMs: number;
  /** The network mode of a machine whose create request names none; default "default" with a NetworkManager, else "none". */
  defaultNetwork?: NetworkMode;
}

export const DEFAULT_MACHINES_CONFIG: Omit<MachinesConfig, "backends" | "backend"> = {
  backoff: DEFAULT_BACKOFF,
  consoleMaxBytes: DEFAULT_CONSOLE_MAX_BYTES,
  stopTimeoutMs: 10_000,
  pollMs: 250,
  refreshTimeoutMs: 3000,
};

export interface MachineServiceDeps {
  repo: MachineRepository;
  idempotency: IdempotencyRepository;
  images: ImageService;
  jobs: JobService;
  paths: DaemonPaths;
  log: Logger;
  config: MachinesConfig;
  /** Drivers by backend; built from the config when absent. */
  drivers?: Partial<Record<VmBackend, VmDriver>>;
  /** Host networking; without it only network "none" machines can be created. */
  network?: NetworkManager;
}

interface RunOverridesRecord {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workdir?: string;
  user?: string;
}

/** One running VM under supervision. */
interface Run {
  handle: VmHandle;
  /** walkd's end of the agent channel, for backends that have one. */
  agent: AgentChannel | undefined;
  tailer: ConsoleTailer;
  startedAt: number;
  poller: NodeJS.Timeout;
  polling: boolean;
  settled: boolean;
  stopRequested: boolean;
}

const RUNNING: readonly MachineState[] = ["starting", "started", "stopping"];
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;
const WAIT_POLL_MS = 100;

export class MachineService {
  private readonly live = new Map<string, Run>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly drivers = new Map<VmBackend, VmDriver>();
  private closed = false;
  private readonly net: MachineNetworking;

  constructor(private readonly deps: MachineServiceDeps) {
    this.net = new MachineNetworking(deps.network, deps.config.defaultNetwork ?? (deps.network ? "default" : "none"));
    for (const [b, d] of Object.entries(deps.drivers ?? {})) this.drivers.set(b as VmBackend, d);
  }

  // ---- queries ----

  list(opts: { all?: boolean } = {}): MachineWire[] {
    return this.deps.repo
      .list()
      .filter((m) => opts.all === true || RUNNING.includes(m.state) || m.restartAt !== null)
      .map((m) => this.wire(m));
  }

  inspect(ref: string): MachineWire {
    return this.wire(this.resolve(ref));
  }

  /** Finds a machine by id (destroyed ones too), by name, or by a unique id prefix. */
  resolve(ref: string): MachineRecord {
    const { repo } = this.deps;
    const byId = MACHINE_ID.test(ref) ? repo.get(ref) : undefined;
    if (byId) return byId;
    const byName = repo.byName(ref);
    if (byName) return byName;
    if (/^[0-9a-f]{4,31}$/.test(ref)) {
      const matches = repo.byIdPrefix(ref).filter((m) => m.state !== "destroyed");
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) throw new WalkError("invalid_argument", `${ref} matches ${matches.length} machines; give more of the id`);
    }
    throw new WalkError("not_found", `no machine ${JSON.stringify(ref)} (see \`walk ps -a\`)`);
  }

  // ---- create ----

  /** Create with an Idempotency-Key: same key and body, same machine; another body, 422; in flight, 409. */
  async createIdempotent(key: string, req: CreateMachineRequest): Promise<{ machine: MachineWire; replayed: boolean }> {
    if (!IDEMPOTENCY_KEY.test(key)) throw new WalkError("invalid_argument", "the Idempotency-Key header must be 1 to 255 printable ASCII characters");
    const hash = createHash("sha256").update(canonicalJson(req)).digest("hex");
    const claim = this.deps.idempotency.claim(key, hash);
    if (!claim.claimed) {
      const { existing } = claim;
      if (existing.requestHash !== hash) throw new WalkError("unprocessable", `the Idempotency-Key ${JSON.stringify(key)} was already used with a different request`);
      if (existing.machineId === null) throw new WalkError("conflict", `a request with the Idempotency-Key ${JSON.stringify(key)} is still in progress; retry later`);
      return { machine: this.inspect(existing.machineId), replayed: true };
    }
    let machine: MachineWire;
    try {
      machine = await this.create(req, (id) => this.deps.idempotency.complete(key, id));
    } catch (err) {
      this.deps.idempotency.release(key);
      throw err;
    }
    return { machine, replayed: false };
  }

  /**
   * Validates, pulls the image if missing, builds its app disk, records the machine (created) and
   * optionally starts it. A failed start leaves the machine `failed` and is not an error here: the
   * machine exists, and its last_error says why.
   */
  async create(req: CreateMachineRequest, onRecorded?: (id: string) => void): Promise<MachineWire> {
    const { repo, log } = this.deps;
    const name = req.name === undefined ? generateMachineName(req.image) : validateMachineName(req.name);
    const resources = validateResources({ vcpus: req.cpus ?? DEFAULT_RESOURCES.vcpus, memoryMib: req.memory_mib ?? DEFAULT_RESOURCES.memoryMib, diskMib: req.disk_mib ?? DEFAULT_RESOURCES.diskMib });
    const policy = parseRestartPolicy(req.restart ?? "no");
    const ports = req.ports ?? [];
    const network = this.net.modeFor(req.network, ports);
    if (repo.byName(name)) throw new WalkError("already_exists", `a machine named ${name} already exists; choose another --name or remove it`);
    const backend = this.deps.config.backend;
    if (backend === null) throw new WalkError("unavailable", "no VMM backend can run on this host; run `walk doctor`");
    this.driver(backend);
    const base = await this.bootableBase();
    const id = newId();
    // Addresses and ports first: a port conflict is reported before any pull, build or boot.
    if (network === "default") {
      const others = repo.list().filter((m) => m.network !== "none").map((m) => m.id);
      await this.net.allocate(id, ports, others);
    }
    const record = await this.recordNew(id, name, req, base, resources, policy, network, backend).catch(async (err: unknown) => {
      await this.net.release(id, network);
      throw err;
    });
    onRecorded?.(id);
    log.info({ machine: id, name, image: req.image, backend, network }, "created machine");
    if (req.start === true) {
      await this.start(id).catch((err: unknown) => log.warn({ machine: id, err: asWalkError(err).message }, "machine failed to start"));
    }
    return this.wire(repo.get(id) ?? record);
  }

  /** Pulls and builds what the machine needs and inserts its record (state created). */
  private async recordNew(id: string, name: string, req: CreateMachineRequest, base: string, resources: { vcpus: number; memoryMib: number; diskMib: number }, policy: RestartPolicy, network: NetworkMode, backend: VmBackend): Promise<MachineRecord> {
    const { repo } = this.deps;
    const overrides: RunOverridesRecord = {
      ...(req.entrypoint !== undefined ? { entrypoint: req.entrypoint } : {}),
      ...(req.cmd !== undefined ? { cmd: req.cmd } : {}),
      ...(req.env !== undefined ? { env: req.env } : {}),
      ...(req.workdir !== undefined ? { workdir: req.workdir } : {}),
      ...(req.user !== undefined ? { user: req.user } : {}),
    };
    const digest = await this.ensureImage(req.image);
    const disk = await this.buildAppDisk(digest, overrides);
    try {
      return repo.insert({
        id,
        name,
        imageReference: req.image,
        imageDigest: digest,
        overrides: JSON.stringify(overrides),
        appDiskId: disk.id,
        appDiskPath: disk.path,
        baseVersion: base,
        vcpus: resources.vcpus,
        memoryMib: resources.memoryMib,
        diskMib: resources.diskMib,
        restartPolicy: policy.name,
        restartMax: policy.maxRetries ?? null,
        network,
        backend,
      });
    } catch (err) {
      if ((err as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE") throw new WalkError("already_exists", `a machine named ${name} already exists; choose another --name or remove it`);
      throw err;
    }
  }

  private async bootableBase(): Promise<string> {
    const base = await resolveBase(this.deps.paths.dataDir);
    if (!base.paths.vmlinux) throw new WalkError("unprocessable", `guest base ${base.version} has no vmlinux kernel, which both backends boot; install one with \`walk base build\``);
    return base.version;
  }

  private async ensureImage(reference: string): Promise<string> {
    const { images, jobs } = this.deps;
    try {
      return images.find(reference).digest;
    } catch (err) {
      if (!isWalkError(err, "not_found") || /^(sha256:)?[0-9a-f]{4,64}$/.test(reference)) throw err;
    }
    const job = images.startPull({ reference });
    const done = await jobs.wait(job.id);
    if (done?.state !== "succeeded") {
      const e = done?.error;
      throw new WalkError(e && isCode(e.code) ? e.code : "internal", `cannot pull ${reference}: ${e?.error ?? "the pull did not finish"}`);
    }
    return (done.result as { digest: string }).digest;
  }

  private async buildAppDisk(digest: string, overrides: RunOverridesRecord): Promise<AppDiskResultWire> {
    const { images, jobs } = this.deps;
    const job = images.startBuild({ reference: digest, ...overrides });
    const done = await jobs.wait(job.id);
    if (done?.state !== "succeeded") {
      const e = done?.error;
      throw new WalkError(e && isCode(e.code) ? e.code : "internal", `cannot build the app disk of ${digest}: ${e?.error ?? "the build did not finish"}`);
    }
    return done.result as AppDiskResultWire;
  }

  // ---- lifecycle ----

  /**
   * Starts a machine; a no-op for one that is starting or started. With `restore`, it resumes from
   * the snapshot suspend() took (`not_found` when there is none); any start consumes the snapshot.
   */
  start(ref: string, opts: { restore?: boolean } = {}): Promise<MachineWire> {
    const id = this.resolve(ref).id;
    return this.locked(id, async () => {
      const m = this.get(id);
      if (m.state === "destroyed") throw removed(m);
      if (m.state === "starting" || m.state === "started") return this.wire(m);
      if (m.state === "stopping") throw new WalkError("conflict", `machine ${m.name} is stopping; wait for it to stop, then start it`);
      this.cancelRestart(id);
      // A start by a user is a fresh start: the policy's retry budget and backoff begin again.
      const files = snapshotFiles(this.paths(id));
      if (opts.restore === true) {
        if (!(await hasSnapshot(files))) throw new WalkError("not_found", `machine ${m.name} has no snapshot to restore; start it without restore`);
        try {
          this.checkRefreshable(m, undefined);
        } catch (err) {
          await removeSnapshot(files); // it will never be restorable here
          throw err;
        }
      }
      await this.startNow(m, { restartCount: 0, restartStreak: 0 }, opts.restore === true);
      return this.wire(this.get(id));
    });
  }

  /**
   * Suspends a started machine: a full snapshot (memory and device state) into its data dir, then
   * the VMM is killed; the machine is `stopped` and start({ restore: true }) resumes it. When the
   * snapshot fails the machine is stopped all the same and the error says so.
   */
  suspend(ref: string): Promise<MachineWire> {
    const id = this.resolve(ref).id;
    return this.locked(id, async () => {
      const m = this.get(id);
      if (m.state !== "started") throw new WalkError("conflict", `machine ${m.name} is ${m.state}; only a started machine can be suspended`);
      this.checkRefreshable(m, this.live.get(id)?.agent);
      const files = snapshotFiles(this.paths(id));
      let failure: WalkError | undefined;
      await this.stopNow(m, async (h) => {
        await h.snapshot(files).catch(async (err: unknown) => {
          failure = asWalkError(err);
          await removeSnapshot(files);
        });
        return h.kill();
      });
      if (failure) throw new WalkError(failure.code, `machine ${m.name} was stopped, but its snapshot failed: ${failure.message}`, { cause: failure });
      this.deps.log.info({ machine: id }, "machine suspended");
      return this.wire(this.get(id));
    });
  }

  /** Stops gracefully (the guest's init stops the workload), then kills after `timeoutMs`. A no-op for a stopped machine. */
  stop(ref: string, opts: { timeoutMs?: number } = {}): Promise<MachineWire> {
    const id = this.resolve(ref).id;
    return this.locked(id, async () => {
      await this.stopNow(this.get(id), (h) => gracefulStop(h, opts.timeoutMs ?? this.deps.config.stopTimeoutMs));
      return this.wire(this.get(id));
    });
  }

  /** Kills the VM at once. A no-op for a stopped machine. */
  kill(ref: string): Promise<MachineWire> {
    const id = this.resolve(ref).id;
    return this.locked(id, async () => {
      await this.stopNow(this.get(id), (h) => h.kill());
      return this.wire(this.get(id));
    });
  }

  restart(ref: string, opts: { timeoutMs?: number } = {}): Promise<MachineWire> {
    const id = this.resolve(ref).id;
    return this.locked(id, async () => {
      await this.stopNow(this.get(id), (h) => gracefulStop(h, opts.timeoutMs ?? this.deps.config.stopTimeoutMs));
      await this.startNow(this.get(id), { restartCount: 0, restartStreak: 0 });
      return this.wire(this.get(id));
    });
  }

  /** Removes a machine and its files. Refuses a running one unless `force` (then kills it). */
  remove(ref: string, opts: { force?: boolean } = {}): Promise<MachineWire> {
    const id = this.resolve(ref).id;
    return this.locked(id, async () => {
      const m = this.get(id);
      if (m.state === "destroyed") return this.wire(m);
      if (RUNNING.includes(m.state) && opts.force !== true) {
        throw new WalkError("conflict", `machine ${m.name} is ${m.state}; stop it first or remove it with -f`);
      }
      this.cancelRestart(id);
      // Recorded first: a crash from here on leaves a tombstone that reconcile finishes removing.
      this.update(id, { state: "destroyed", restartAt: null, finishedAt: m.finishedAt ?? new Date().toISOString() });
      const run = this.live.get(id);
      if (run) {
        run.stopRequested = true;
        run.settled = true;
        clearInterval(run.poller);
        this.live.delete(id);
        await run.handle.kill();
        await run.agent?.close();
      }
      await this.removeFiles(id);
      await this.net.release(id, m.network);
      this.update(id, { vmPid: null, vmStartTime: null, vmControlSocket: null });
      this.deps.log.info({ machine: id, name: m.name }, "removed machine");
      return this.wire(this.get(id));
    });
  }

  /**
   * Resolves once the machine is in `state` ("exited": not running and no restart pending), or
   * fails with `timeout`.
   */
  async wait(ref: string, state: MachineState | "exited" = "exited", timeoutMs = 300_000, signal?: AbortSignal): Promise<MachineWire> {
    const id = this.resolve(ref).id;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.get(id);
      const reached = state === "exited" ? !RUNNING.includes(m.state) && m.restartAt === null : m.state === state;
      if (reached) return this.wire(m);
      if (state !== "destroyed" && m.state === "destroyed") throw new WalkError("conflict", `machine ${m.name} was removed while waiting for ${state}`);
      if (signal?.aborted) throw new WalkError("canceled", "the wait was canceled");
      if (Date.now() >= deadline) throw new WalkError("timeout", `machine ${m.name} did not reach ${state} within ${Math.round(timeoutMs / 1000)} s (it is ${m.state})`);
      await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
    }
  }

  /** The machine's console as the user sees it; with follow, until it stops for good. */
  logs(ref: string, opts: { follow?: boolean; sinceMs?: number; signal?: AbortSignal } = {}): AsyncGenerator<Buffer> {
    const m = this.resolve(ref);
    const id = m.id;
    return readLogs(this.paths(id), {
      ...opts,
      pollMs: this.deps.config.pollMs,
      live: () => {
        const now = this.deps.repo.get(id);
        return now !== undefined && (RUNNING.includes(now.state) || now.restartAt !== null);
      },
    });
  }

  // ---- internals: start, stop, exit ----

  private async startNow(m: MachineRecord, reset: MachineChange = {}, restore = false): Promise<void> {
    const { log } = this.deps;
    const id = m.id;
    const paths = this.paths(id);
    this.update(
      id,
      { ...reset, state: "starting", restartAt: null, exitCode: null, exitSignal: null, lastError: null, finishedAt: null, vmPid: null, vmStartTime: null, vmControlSocket: null },
      ["created", "stopped", "failed"],
    );
    const snapshot = snapshotFiles(paths);
    let agent: AgentChannel | undefined;
    try {
      const driver = this.driver(m.backend);
      const base = await resolveBase(this.deps.paths.dataDir, m.baseVersion);
      if (!base.paths.vmlinux) throw new WalkError("unprocessable", `guest base ${base.version} has no vmlinux kernel`);
      await this.ensureAppDisk(m);
      await fs.mkdir(paths.dataDir, { recursive: true, mode: 0o700 });
      if (await ensureStateDisk(paths.stateDisk, m.diskMib)) log.info({ machine: id, size_mib: m.diskMib }, "created state disk");
      await appendBootMarker(paths, this.get(id).restartCount);
      const tailer = await ConsoleTailer.open(paths, this.deps.config.consoleMaxBytes);
      // The tap, rules, DNS forwarder and published ports exist before the VMM opens the tap.
      const network = await this.net.setUp(id, m.network);
      agent = await this.listenAgent(m);
      const handle = driver.create(this.spec(this.get(id), base.paths.vmlinux, base.paths.rootfs, this.stopSignalOf(m), network));
      // A snapshot matches the disks only until the machine runs again: a boot discards it, a restore consumes it.
      if (!restore) await removeSnapshot(snapshot);
      const t0 = Date.now();
      await handle.start({
        ...(restore ? { restore: snapshot } : {}),
        onSpawned: (r) => {
          this.update(id, { vmPid: r.pid, vmStartTime: r.startTime, vmControlSocket: r.controlSocket });
        },
      });
      if (restore) {
        await this.refreshRestored(m, handle, agent, Date.now() - t0);
        await removeSnapshot(snapshot);
      }
      this.update(id, { state: "started", startedAt: new Date().toISOString() });
      this.supervise(id, handle, tailer, Date.now(), agent);
      log.info({ machine: id, pid: handle.pid, backend: m.backend }, "machine started");
    } catch (err) {
      const e = asWalkError(err);
      // The driver leaves nothing running after a failed start, and no device of it stays; the record says why.
      await agent?.close().catch((ae: unknown) => log.warn({ machine: id, err: asWalkError(ae).message }, "closing the agent channel after a failed start failed"));
      // A snapshot is used once, whether its restore worked or not: once the guest ran, the disks moved on.
      if (restore) await removeSnapshot(snapshot).catch((re: unknown) => log.warn({ machine: id, err: asWalkError(re).message }, "removing the snapshot after a failed restore failed"));
      await this.net.tearDown(id, m.network).catch((te: unknown) => log.warn({ machine: id, err: asWalkError(te).message }, "network teardown after a failed start failed"));
      this.update(id, { state: "failed", lastError: `start failed: ${e.message}`, finishedAt: new Date().toISOString(), vmPid: null, vmStartTime: null, vmControlSocket: null });
      throw e;
    }
  }

  /**
   * A snapshot is taken, and restored, only where the restored guest can be refreshed before it
   * serves: every restore of one snapshot would otherwise share its CRNG state and resume with a
   * stale clock. That needs the agent channel (walk-init speaks it over virtio-console, which only
   * the QEMU backend provides; Firecracker's channel is vsock, which the init does not speak yet)
   * and an init of contract 2 or later. `agent` is the running machine's channel: when it heard
   * the guest start without a WALK-INIT v2, the init is known to be older.
   */
  private checkRefreshable(m: MachineRecord, agent: AgentChannel | undefined): void {
    if (this.agentSocketOf(m) === undefined) {
      throw new WalkError("unsupported", `machine ${m.name} runs on ${m.backend}, where walk cannot yet refresh a restored guest's clock and entropy (it has no agent channel there), so it is not suspended or restored`, { details: { machine: m.id } });
    }
    if (agent?.started !== undefined && (agent.contract ?? 1) < REFRESH_CONTRACT) {
      throw new WalkError(
        "unsupported",
        `machine ${m.name}'s guest init (base ${m.baseVersion}) predates contract ${REFRESH_CONTRACT} and cannot refresh its clock and entropy after a restore, so it is not suspended; a machine on a newer base can be (\`walk base build\`)`,
        { details: { machine: m.id } },
      );
    }
  }

  /** A restored guest may serve only once its init confirmed the refresh; otherwise its VM is killed. */
  private async refreshRestored(m: MachineRecord, handle: VmHandle, agent: AgentChannel | undefined, restoreMs: number): Promise<void> {
    const t0 = Date.now();
    try {
      if (!agent) throw new WalkError("unsupported", "the machine has no agent channel");
      await agent.refresh(this.deps.config.refreshTimeoutMs);
    } catch (err) {
      const e = asWalkError(err);
      await handle.kill();
      this.deps.log.warn({ machine: m.id, err: e.message }, "the restored guest did not refresh its clock and entropy; its VM was killed");
      throw new WalkError(e.code, `the restored guest did not confirm that its clock and entropy were refreshed, so its VM was killed: ${e.message}`, { cause: e, details: { machine: m.id } });
    }
    this.deps.log.info({ machine: m.id, restore_ms: restoreMs, refresh_ms: Date.now() - t0 }, "restored guest: clock set and entropy reseeded");
  }

  /** walkd's end of the agent channel, listening before the VMM starts (QEMU connects to it). */
  private async listenAgent(m: MachineRecord): Promise<AgentChannel | undefined> {
    const path = this.agentSocketOf(m);
    if (path === undefined) return undefined;
    await fs.mkdir(this.paths(m.id).runtimeDir, { recursive: true, mode: 0o700 });
    return AgentChannel.listen(path);
  }

  /** The agent channel's socket: QEMU machines only (see checkRefreshable). */
  private agentSocketOf(m: MachineRecord): string | undefined {
    return m.backend === "qemu" ? this.paths(m.id).agentSocket : undefined;
  }

  /** The app disk is rebuilt from the image when it is gone (prune removes unused disks; they are cheap to derive). */
  private async ensureAppDisk(m: MachineRecord): Promise<void> {
    const exists = await fs.stat(m.appDiskPath).then((s) => s.isFile(), () => false);
    if (exists) return;
    const disk = await this.buildAppDisk(m.imageDigest, JSON.parse(m.overrides) as RunOverridesRecord);
    this.update(m.id, { appDiskId: disk.id, appDiskPath: disk.path });
  }

  private async stopNow(m: MachineRecord, how: (h: VmHandle) => Promise<VmExit>): Promise<void> {
    if (m.state === "destroyed") throw removed(m);
    if (m.restartAt !== null) {
      this.cancelRestart(m.id);
      this.update(m.id, { restartAt: null });
    }
    const run = this.live.get(m.id);
    if (!run) {
      // Nothing of ours is running (never started, stopped, or lost): stopped is the truth.
      await this.net.tearDown(m.id, m.network);
      if (RUNNING.includes(m.state)) this.update(m.id, { state: "stopped", finishedAt: new Date().toISOString(), vmPid: null, vmStartTime: null, vmControlSocket: null });
      return;
    }
    run.stopRequested = true;
    this.update(m.id, { state: "stopping" });
    const exit = await how(run.handle);
    await this.finishRun(m.id, run, exit);
  }

  private supervise(id: string, handle: VmHandle, tailer: ConsoleTailer, startedAt: number, agent: AgentChannel | undefined): void {
    const poll = (): void => {
      if (run.polling) return;
      run.polling = true;
      tailer
        .poll()
        .catch((err: unknown) => this.deps.log.warn({ machine: id, err: asWalkError(err).message }, "reading the console failed"))
        .finally(() => (run.polling = false));
    };
    const run: Run = { handle, agent, tailer, startedAt, poller: setInterval(poll, this.deps.config.pollMs), polling: false, settled: false, stopRequested: false };
    run.poller.unref();
    this.live.set(id, run);
    void handle.wait().then(
      (exit) => this.locked(id, () => this.finishRun(id, run, exit)),
      (err: unknown) => this.deps.log.error({ machine: id, err: asWalkError(err).message }, "waiting for the VM failed"),
    );
  }

  /** Records how a run ended (once per run) and applies the restart policy. Runs under the machine's lock. */
  private async finishRun(id: string, run: Run, exit: VmExit): Promise<void> {
    if (run.settled || this.closed) return;
    run.settled = true;
    clearInterval(run.poller);
    this.live.delete(id);
    await run.agent?.close().catch((err: unknown) => this.deps.log.warn({ machine: id, err: asWalkError(err).message }, "closing the agent channel failed"));
    while (run.polling) await new Promise((r) => setTimeout(r, 10));
    await run.tailer.poll().catch(() => undefined);
    const m = this.deps.repo.get(id);
    if (!m || m.state === "destroyed") return;
    // Published ports go with the VM; the lease stays, so a restart gets the same IP, MAC and tap.
    await this.net.tearDown(id, m.network).catch((err: unknown) => this.deps.log.warn({ machine: id, err: asWalkError(err).message }, "network teardown failed"));
    const status = run.tailer.scanner.status;
    const ended = await this.outcome(id, status, exit, run.stopRequested);
    const finishedAt = new Date().toISOString();
    const base: MachineChange = { ...ended.change, finishedAt, vmPid: null, vmStartTime: null, vmControlSocket: null };
    if (run.stopRequested) {
      this.update(id, { ...base, restartAt: null });
      return;
    }
    this.applyPolicy(m, base, ended.success, Date.now() - run.startedAt);
  }

  private async outcome(id: string, status: GuestStatus | undefined, exit: VmExit | undefined, requested: boolean): Promise<{ change: MachineChange; success: boolean }> {
    if (status?.kind === "exit") return { change: { state: "stopped", exitCode: status.code, exitSignal: null, lastError: null }, success: status.code === 0 };
    if (status?.kind === "signal") return { change: { state: "stopped", exitCode: null, exitSignal: status.signal, lastError: null }, success: false };
    if (status?.kind === "error") return { change: { state: "failed", exitCode: null, exitSignal: null, lastError: `the guest could not run the workload: ${describeStatus(status)}` }, success: false };
    if (requested) return { change: { state: "stopped", exitCode: null, exitSignal: null, lastError: null }, success: false };
    const how = exit === undefined ? "while walkd was not running" : `(${describeExit(exit)})`;
    const tail = await consoleTail(this.paths(id));
    return {
      change: { state: "failed", exitCode: null, exitSignal: null, lastError: `the VM ended without an exit status ${how}: the guest crashed or the VMM died${tail ? `; the console ends with: ${tail.slice(-300)}` : ""}` },
      success: false,
    };
  }

  private applyPolicy(m: MachineRecord, change: MachineChange, success: boolean, ranMs: number): void {
    const policy: RestartPolicy = { name: m.restartPolicy, ...(m.restartMax !== null ? { maxRetries: m.restartMax } : {}) };
    const d = decideRestart(policy, success ? "success" : "failure", m.restartCount, m.restartStreak, ranMs, this.deps.config.backoff);
    if (!d.restart) {
      this.update(m.id, { ...change, restartAt: null });
      return;
    }
    const at = new Date(Date.now() + d.delayMs).toISOString();
    this.update(m.id, { ...change, restartAt: at, restartStreak: d.streak });
    this.deps.log.info({ machine: m.id, in_ms: d.delayMs, policy: formatRestartPolicy(policy) }, "machine will be restarted");
    this.scheduleRestart(m.id, d.delayMs);
  }

  private scheduleRestart(id: string, delayMs: number): void {
    this.cancelRestart(id);
    const timer = setTimeout(() => {
      this.restartTimers.delete(id);
      void this.locked(id, async () => {
        const m = this.deps.repo.get(id);
        if (this.closed || !m || m.restartAt === null || RUNNING.includes(m.state) || m.state === "destroyed") return;
        try {
          await this.startNow(m, { restartCount: m.restartCount + 1 });
        } catch (err) {
          // A failed automatic start is one more failure for the policy.
          const now = this.get(id);
          this.applyPolicy(now, { lastError: now.lastError }, false, 0);
          this.deps.log.warn({ machine: id, err: asWalkError(err).message }, "automatic restart failed");
        }
      });
    }, Math.max(0, delayMs));
    timer.unref();
    this.restartTimers.set(id, timer);
  }

  private cancelRestart(id: string): void {
    const t = this.restartTimers.get(id);
    if (t) clearTimeout(t);
    this.restartTimers.delete(id);
  }

  // ---- reconcile and shutdown ----

  /**
   * At daemon start: re-attaches VMs recorded as running (identity verified by the driver),
   * records what is known about the ones that died, applies their restart policies, resumes
   * pending restarts, finishes interrupted removals, and removes runtime dirs of machines that
   * are not live (only walk-named dirs under walk's own roots).
   */
  async reconcile(): Promise<void> {
    const { repo, log, idempotency } = this.deps;
    idempotency.sweep(IDEMPOTENCY_TTL_MS);
    for (const m of repo.list({ includeDestroyed: true })) {
      await this.locked(m.id, () => this.reconcileOne(m)).catch((err: unknown) => log.error({ machine: m.id, err: asWalkError(err).message }, "reconcile of a machine failed"));
    }
    const known = new Map(repo.list({ includeDestroyed: true }).map((m) => [m.id, m]));
    for (const root of [machinesRuntimeRoot(this.deps.paths.runtimeDir), machinesDataRoot(this.deps.paths.dataDir)]) {
      for (const name of await fs.readdir(root).catch(() => [] as string[])) {
        if (!MACHINE_ID.test(name)) continue;
        const m = known.get(name);
        const isRuntime = root === machinesRuntimeRoot(this.deps.paths.runtimeDir);
        const orphan = m === undefined || m.state === "destroyed" || (isRuntime && !this.live.has(name));
        if (!orphan) continue;
        await fs.rm(join(root, name), { recursive: true, force: true });
        log.info({ path: join(root, name) }, "removed an orphaned machine directory");
      }
    }
    await this.reconcileNetwork();
  }

  /**
   * After the VMs are re-attached (so "running" is known, not guessed): running machines get
   * their proxies and DNS forwarder again (their taps and walk's table stayed in the kernel, so
   * their traffic flowed meanwhile), leases of removed machines are freed, orphaned taps deleted.
   */
  private async reconcileNetwork(): Promise<void> {
    const live = this.deps.repo
      .list()
      .filter((m) => m.network !== "none")
      .map((m) => ({ id: m.id, running: this.live.has(m.id) }));
    const report = await this.net.reconcile(live);
    for (const f of report?.failed ?? []) {
      this.deps.log.error({ machine: f.machineId, err: f.error.message }, "the network of a running machine could not be restored");
      if (this.live.has(f.machineId)) this.update(f.machineId, { lastError: `network not restored after a walkd restart: ${f.error.message}` });
    }
  }

  private async reconcileOne(m: MachineRecord): Promise<void> {
    const { log } = this.deps;
    if (m.state === "destroyed") {
      if (m.vmPid !== null) await this.attachAndKill(m);
      await this.removeFiles(m.id);
      if (m.vmPid !== null) this.update(m.id, { vmPid: null, vmStartTime: null, vmControlSocket: null });
      return;
    }
    if (!RUNNING.includes(m.state)) {
      if (m.restartAt !== null) this.scheduleRestart(m.id, Date.parse(m.restartAt) - Date.now());
      return;
    }
    if (m.vmPid === null || m.vmStartTime === null || m.vmControlSocket === null) {
      this.update(m.id, { state: "failed", lastError: "walkd stopped while this machine was starting, before its VM existed", finishedAt: new Date().toISOString() });
      return;
    }
    const record = { backend: m.backend, pid: m.vmPid, startTime: m.vmStartTime, controlSocket: m.vmControlSocket };
    let handle: VmHandle;
    try {
      handle = await this.driver(m.backend).attach(this.spec(m, undefined, undefined, undefined, this.net.bootNetwork(m.id, m.network)), record);
    } catch (err) {
      const e = asWalkError(err);
      if (e.code !== "not_found") {
        // The same pid and start time is the process walk spawned, even if it no longer answers on
        // its socket: it must not live on beside a new VMM on the same state disk. Anything else
        // is not provably ours: touch nothing, say what is known.
        const ours = await isSameProcessAlive(record.pid, record.startTime);
        if (ours) process.kill(record.pid, "SIGKILL");
        const what = ours ? `; its VMM (pid ${record.pid}) was killed` : "";
        this.update(m.id, { state: "failed", lastError: `could not re-attach after a walkd restart: ${e.message}${what}`, finishedAt: new Date().toISOString(), vmPid: null, vmStartTime: null, vmControlSocket: null });
        log.warn({ machine: m.id, err: e.message, killed: ours }, "could not re-attach a machine");
        return;
      }
      // It ended while walkd was away: its console still holds the status.
      const ended = await this.outcome(m.id, await scanBootStatus(this.paths(m.id)), undefined, m.state === "stopping");
      const change: MachineChange = { ...ended.change, finishedAt: new Date().toISOString(), vmPid: null, vmStartTime: null, vmControlSocket: null };
      log.info({ machine: m.id, state: ended.change.state }, "machine ended while walkd was not running");
      if (m.state === "stopping") this.update(m.id, { ...change, restartAt: null });
      else this.applyPolicy(m, change, ended.success, m.startedAt ? Date.now() - Date.parse(m.startedAt) : 0);
      return;
    }
    const tailer = await ConsoleTailer.open(this.paths(m.id), this.deps.config.consoleMaxBytes);
    if (handle.state === "unbooted" || m.state === "starting") {
      // walkd died between spawning the VMM and booting it: that start cannot be finished.
      const exit = await handle.kill();
      this.update(m.id, { state: "failed", lastError: `walkd stopped while this machine was starting (${describeExit(exit)})`, finishedAt: new Date().toISOString(), vmPid: null, vmStartTime: null, vmControlSocket: null });
      return;
    }
    // The VMM reconnects to the agent channel by itself (QEMU retries every second).
    const agent = await this.listenAgent(m).catch((err: unknown) => {
      log.warn({ machine: m.id, err: asWalkError(err).message }, "cannot listen on the agent channel of a re-attached machine; it runs on without");
      return undefined;
    });
    this.supervise(m.id, handle, tailer, m.startedAt ? Date.parse(m.startedAt) : Date.now(), agent);
    log.info({ machine: m.id, pid: m.vmPid }, "re-attached a running machine");
    if (m.state === "stopping") {
      const run = this.live.get(m.id)!;
      run.stopRequested = true;
      const exit = await gracefulStop(handle, this.deps.config.stopTimeoutMs);
      await this.finishRun(m.id, run, exit);
    }
  }

  private async attachAndKill(m: MachineRecord): Promise<void> {
    try {
      const h = await this.driver(m.backend).attach(this.spec(m, undefined, undefined, undefined, this.net.bootNetwork(m.id, m.network)), { backend: m.backend, pid: m.vmPid!, startTime: m.vmStartTime!, controlSocket: m.vmControlSocket! });
      await h.kill();
    } catch (err) {
      if (!isWalkError(err, "not_found")) this.deps.log.warn({ machine: m.id, err: asWalkError(err).message }, "a removed machine's VM could not be verified; left alone");
    }
  }

  /** Stops supervising (the VMs run on; the next walkd re-attaches them and listens on their agent channels again). */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.restartTimers.values()) clearTimeout(t);
    this.restartTimers.clear();
    for (const run of this.live.values()) clearInterval(run.poller);
    await Promise.all([...this.live.values()].map((run) => (run.agent ? run.agent.close().catch(() => undefined) : Promise.resolve())));
  }

  // ---- helpers ----

  private driver(backend: VmBackend): VmDriver {
    let d = this.drivers.get(backend);
    if (!d) {
      d = createDriver(backend, this.deps.config.backends, this.deps.log);
      this.drivers.set(backend, d);
    }
    return d;
  }

  private paths(id: string): MachinePaths {
    return machinePaths(this.deps.paths.dataDir, this.deps.paths.runtimeDir, id);
  }

  /** The image's StopSignal, read at each start (an unusable one is logged and SIGTERM is used). */
  private stopSignalOf(m: MachineRecord): number | undefined {
    let text: string | null = null;
    try {
      text = this.deps.images.inspect(m.imageDigest).config.stop_signal;
    } catch {
      return undefined;
    }
    const n = stopSignalNumber(text);
    if (text !== null && n === undefined) this.deps.log.warn({ machine: m.id, stop_signal: text }, "the image's StopSignal cannot be delivered by the init; using SIGTERM");
    return n;
  }

  private spec(m: MachineRecord, kernel = join(this.deps.paths.base, m.baseVersion, "vmlinux"), rootfs = join(this.deps.paths.base, m.baseVersion, "rootfs.ext4"), stopSignal?: number, network?: BootNetwork): MachineSpec {
    const p = this.paths(m.id);
    const agentChannel = this.agentSocketOf(m);
    return {
      id: m.id,
      kernelPath: kernel,
      bootArgs: machineBootArgs({ hostname: m.name, ...(network ? { network: network.params } : {}), ...(stopSignal !== undefined ? { stopSignal } : {}), agent: agentChannel !== undefined }),
      ...(network ? { network: network.nic } : {}),
      ...(agentChannel !== undefined ? { agentChannel } : {}),
      drives: [
        { id: "vda", path: rootfs, readOnly: true, root: true },
        { id: "vdb", path: m.appDiskPath, readOnly: true },
        { id: "vdc", path: p.stateDisk, readOnly: false },
      ],
      vcpus: m.vcpus,
      memMib: m.memoryMib,
      consoleLogPath: p.consoleLog,
      runtimeDir: p.runtimeDir,
      ...(this.deps.config.vmTimeouts ? { timeouts: this.deps.config.vmTimeouts } : {}),
    };
  }

  private async removeFiles(id: string): Promise<void> {
    const p = this.paths(id);
    // fs.rm removes symlinks rather than following them, so a guest-written tree cannot redirect it.
    await fs.rm(p.runtimeDir, { recursive: true, force: true });
    await fs.rm(p.dataDir, { recursive: true, force: true });
  }

  private get(id: string): MachineRecord {
    const m = this.deps.repo.get(id);
    if (!m) throw new WalkError("not_found", `no machine ${id}`);
    return m;
  }

  private update(id: string, change: MachineChange, from?: readonly MachineState[]): MachineRecord {
    const m = this.deps.repo.transition(id, change, from);
    if (!m) {
      const now = this.deps.repo.get(id);
      throw new WalkError("conflict", `machine ${now?.name ?? id} is ${now?.state ?? "gone"}; cannot move it to ${change.state ?? "the new state"}`);
    }
    return m;
  }

  /** Serialises operations on one machine. */
  private locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return next;
  }

  private wire(m: MachineRecord): MachineWire {
    const p = this.paths(m.id);
    return {
      id: m.id,
      name: m.name,
      state: m.state,
      image: { reference: m.imageReference, digest: m.imageDigest },
      app_disk: { id: m.appDiskId, path: m.appDiskPath },
      base_version: m.baseVersion,
      cpus: m.vcpus,
      memory_mib: m.memoryMib,
      disk_mib: m.diskMib,
      restart: { policy: formatRestartPolicy({ name: m.restartPolicy, ...(m.restartMax !== null ? { maxRetries: m.restartMax } : {}) }), count: m.restartCount, pending_at: m.restartAt },
      network: m.network,
      net: this.net.describe(m.id, m.network),
      backend: m.backend,
      vm: m.vmPid !== null && m.vmStartTime !== null && m.vmControlSocket !== null ? { pid: m.vmPid, start_time: m.vmStartTime, control_socket: m.vmControlSocket } : null,
      exit_code: m.exitCode,
      exit_signal: m.exitSignal,
      last_error: m.lastError,
      created_at: m.createdAt,
      started_at: m.startedAt,
      finished_at: m.finishedAt,
      paths: { runtime_dir: p.runtimeDir, state_disk: p.stateDisk, console_log: p.consoleLog },
    };
  }
}

/** How often a graceful stop repeats its request while the VM runs on. */
const STOP_RESEND_MS = 2000;

/**
 * The driver's graceful stop, with the request repeated every STOP_RESEND_MS until the deadline:
 * a Ctrl-Alt-Del that reaches a guest still booting (before walk-init listens) is lost, and the
 * init treats further requests as the same stop. The kill still comes at the one deadline.
 */
async function gracefulStop(h: VmHandle, timeoutMs: number): Promise<VmExit> {
  const deadline = Date.now() + timeoutMs;
  const resend = setInterval(() => {
    const left = deadline - Date.now();
    if (left > STOP_RESEND_MS / 2) h.stop({ timeoutMs: left }).catch(() => undefined);
  }, STOP_RESEND_MS);
  try {
    return await h.stop({ timeoutMs });
  } finally {
    clearInterval(resend);
  }
}

function describeExit(e: VmExit): string {
  if (e.signal) return `VMM killed by ${e.signal}`;
  if (e.code !== null) return `VMM exit code ${e.code}`;
  return "VMM exit status unknown";
}

function removed(m: MachineRecord): WalkError {
  return new WalkError("conflict", `machine ${m.name} (${m.id}) was removed; create a new one with \`walk run\``, { details: { machine: m.id } });
}

function isCode(code: string): code is WalkError["code"] {
  return ["invalid_argument", "not_found", "already_exists", "conflict", "unauthorized", "forbidden", "digest_mismatch", "size_exceeded", "unsupported", "timeout", "unavailable", "unprocessable", "canceled", "internal"].includes(code);
}

/** JSON with sorted keys, so the same request hashes the same however its keys were ordered. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v !== null && typeof v === "object") {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}
