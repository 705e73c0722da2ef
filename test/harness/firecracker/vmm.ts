// The stand-in's model of one Firecracker process: the resources configured through the API and
// the state rules Firecracker enforces on them (docs/actions.md, logger.md, metrics.md, vsock.md,
// snapshot-support.md and the spec's "Pre-boot only"/"Post-boot only"). Requests reach it already
// validated against the schema. There is no guest: "booting" writes a few console lines.
import { accessSync, appendFileSync, constants, existsSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { dirname, join } from "node:path";
import type { Route } from "./api-spec.js";

export class Fault extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Firecracker ends the process after this fault (a failed snapshot load). */
    readonly fatal = false,
  ) {
    super(message);
  }
}

export interface Reply {
  status: number;
  body?: unknown;
}

type Body = Record<string, unknown>;

interface Drive {
  drive_id: string;
  path_on_host?: string;
  is_root_device: boolean;
  is_read_only?: boolean;
}

const PRE_BOOT_FAULT = "The requested operation is not supported after starting the microVM.";
const POST_BOOT_FAULT = "The requested operation is not supported before starting the microVM.";
const ID = /^[A-Za-z0-9_]{1,64}$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const SNAPSHOT_MAGIC = "walk-firecracker-standin-snapshot-v1";

export interface VmmOptions {
  id: string;
  version: string;
  /** Paths in requests are resolved under this directory (a jail's root), or as they are. */
  root?: string;
  /** Guest behaviour on SendCtrlAltDel: reboot (Firecracker exits 0) or ignore it. */
  onCtrlAltDel: "reboot" | "ignore";
  console: (line: string) => void;
  exit: (code: number) => void;
}

export class StandinVmm {
  state: "Not started" | "Running" | "Paused" = "Not started";
  private logPath: string | undefined;
  private metricsPath: string | undefined;
  private machine: Body = { vcpu_count: 1, mem_size_mib: 128, smt: false, track_dirty_pages: false, huge_pages: "None" };
  private bootSource: Body | undefined;
  private readonly drives = new Map<string, Drive>();
  private readonly ifaces = new Map<string, Body>();
  private vsock: { body: Body; server: net.Server } | undefined;
  private entropy: Body | undefined;
  /** Anything but logger and metrics configured: a snapshot can no longer be loaded. */
  private configuredBootResources = false;

  constructor(private readonly opts: VmmOptions) {}

  /** Resolves a path Firecracker was given the way Firecracker would see it (inside its jail). */
  host(p: string): string {
    return this.opts.root === undefined ? p : join(this.opts.root, p);
  }

  handle(route: Route, params: Record<string, string>, body: Body | undefined): Reply {
    if (route.phase === "pre" && this.state !== "Not started") throw new Fault(400, PRE_BOOT_FAULT);
    if (route.phase === "post" && this.state === "Not started") throw new Fault(400, POST_BOOT_FAULT);
    for (const name of route.pathParams) {
      if (!ID.test(params[name]!)) throw new Fault(400, `Invalid value for ${name}: ${JSON.stringify(params[name])}. Ids may only contain alphanumeric characters and underscores (at most 64).`);
    }
    const b = body ?? {};
    switch (route.operationId) {
      case "describeInstance":
        return { status: 200, body: { app_name: "Firecracker", id: this.opts.id, state: this.state, vmm_version: this.opts.version } };
      case "getFirecrackerVersion":
        return { status: 200, body: { firecracker_version: this.opts.version } };
      case "getMachineConfiguration":
        return { status: 200, body: this.machine };
      case "putLogger":
        return this.putLogger(b);
      case "putMetrics":
        return this.putMetrics(b);
      case "putMachineConfiguration":
        return this.setMachine({ smt: false, track_dirty_pages: false, huge_pages: "None", ...b });
      case "patchMachineConfiguration":
        return this.setMachine({ ...this.machine, ...b });
      case "putGuestBootSource":
        return this.putBootSource(b);
      case "putGuestDriveByID":
        return this.putDrive(params.drive_id!, b as unknown as Drive);
      case "patchGuestDriveByID":
        if (!this.drives.has(params.drive_id!)) throw new Fault(400, `Invalid block device ID: ${params.drive_id}`);
        return this.noContent();
      case "putGuestNetworkInterfaceByID":
        return this.putIface(params.iface_id!, b);
      case "putGuestVsock":
        return this.putVsock(b);
      case "putEntropyDevice":
        this.entropy = b;
        this.configuredBootResources = true;
        return this.noContent();
      case "createSyncAction":
        return this.action(text(b.action_type));
      case "patchVm":
        this.state = b.state === "Paused" ? "Paused" : "Running";
        return this.noContent();
      case "createSnapshot":
        return this.createSnapshot(b);
      case "loadSnapshot":
        return this.loadSnapshot(b);
      default:
        if (route.method === "GET") throw new Fault(400, `${route.method} ${route.template} is not simulated by the walk Firecracker stand-in.`);
        this.configuredBootResources ||= route.phase === "pre";
        return this.noContent();
    }
  }

  /** Called when the process ends: Firecracker's listening sockets die with it. */
  close(): void {
    this.vsock?.server.close();
  }

  private noContent(): Reply {
    return { status: 204 };
  }

  private log(line: string): void {
    if (this.logPath) appendFileSync(this.logPath, `[${this.opts.id}:main] ${line}\n`);
  }

  private putLogger(b: Body): Reply {
    if (this.logPath !== undefined) throw new Fault(400, "Logger can only be configured once.");
    if (typeof b.log_path === "string") {
      const p = this.host(b.log_path);
      mustOpen(p, constants.W_OK, "Failed to open the log file");
      this.logPath = p;
    }
    this.log(`Running Firecracker v${this.opts.version}`);
    return this.noContent();
  }

  private putMetrics(b: Body): Reply {
    if (this.metricsPath !== undefined) throw new Fault(400, "Reinitialization of metrics not allowed.");
    const p = this.host(text(b.metrics_path));
    mustOpen(p, constants.W_OK, "Failed to open the metrics file");
    this.metricsPath = p;
    return this.noContent();
  }

  private setMachine(next: Body): Reply {
    const vcpus = Number(next.vcpu_count);
    const mem = Number(next.mem_size_mib);
    if (mem < 1) throw new Fault(400, "The memory size (MiB) is either 0, or not a multiple of the configured page size.");
    if (next.smt === true && vcpus > 1 && vcpus % 2 !== 0) throw new Fault(400, "The number of vCPUs is invalid. With SMT enabled it must be 1 or an even number.");
    if (next.huge_pages === "2M" && mem % 2 !== 0) throw new Fault(400, "The memory size (MiB) is either 0, or not a multiple of the configured page size.");
    this.machine = next;
    this.configuredBootResources = true;
    return this.noContent();
  }

  private putBootSource(b: Body): Reply {
    mustOpen(this.host(text(b.kernel_image_path)), constants.R_OK, "The kernel file cannot be opened");
    if (typeof b.initrd_path === "string") mustOpen(this.host(b.initrd_path), constants.R_OK, "The initrd file cannot be opened");
    if (typeof b.boot_args === "string" && Buffer.byteLength(b.boot_args) >= 2048) throw new Fault(400, "The kernel command line is invalid: Command line too large");
    this.bootSource = b;
    this.configuredBootResources = true;
    return this.noContent();
  }

  private putDrive(id: string, d: Drive): Reply {
    if (d.drive_id !== id) throw new Fault(400, "The id from the path does not match the id from the body!");
    if (d.path_on_host === undefined) throw new Fault(400, "Unable to create the block device: a virtio-block drive needs path_on_host.");
    const p = this.host(d.path_on_host);
    mustOpen(p, d.is_read_only === true ? constants.R_OK : constants.R_OK | constants.W_OK, "Unable to create the block device: BackingFile");
    for (const other of this.drives.values()) {
      if (d.is_root_device && other.is_root_device && other.drive_id !== id) throw new Fault(400, "A root block device already exists!");
    }
    this.drives.set(id, d);
    this.configuredBootResources = true;
    return this.noContent();
  }

  private putIface(id: string, b: Body): Reply {
    if (b.iface_id !== id) throw new Fault(400, "The id from the path does not match the id from the body!");
    if (b.guest_mac !== undefined && !MAC.test(text(b.guest_mac))) throw new Fault(400, `Invalid MAC address: ${text(b.guest_mac)}`);
    for (const [otherId, other] of this.ifaces) {
      if (otherId === id) continue;
      if (other.host_dev_name === b.host_dev_name) throw new Fault(400, `The host device name ${text(b.host_dev_name)} is already in use.`);
      if (b.guest_mac !== undefined && other.guest_mac === b.guest_mac) throw new Fault(400, `The MAC address ${text(b.guest_mac)} is already in use.`);
    }
    this.ifaces.set(id, b);
    this.configuredBootResources = true;
    return this.noContent();
  }

  private putVsock(b: Body): Reply {
    this.vsock?.server.close();
    this.vsock = { body: b, server: this.listenVsock(text(b.uds_path)) };
    this.configuredBootResources = true;
    return this.noContent();
  }

  /**
   * Binds the vsock's host socket as Firecracker does when the device is configured. With no
   * guest listening, a host connection is closed after its `CONNECT <port>` line (vsock.md).
   */
  private listenVsock(udsPath: string): net.Server {
    const p = this.host(udsPath);
    if (!existsSync(dirname(p))) throw new Fault(400, `Cannot create backend for vsock device: UnixBind(Os { code: 2, kind: NotFound, message: "No such file or directory" })`);
    if (existsSync(p)) throw new Fault(400, `Cannot create backend for vsock device: UnixBind(Os { code: 98, kind: AddrInUse, message: "Address in use" })`);
    const server = net.createServer((c) => {
      c.once("data", () => c.destroy());
    });
    // A bind failure the checks above did not foresee is reported on stderr instead of crashing the VMM.
    server.on("error", (err) => process.stderr.write(`stand-in: vsock socket ${p}: ${err.message}\n`));
    server.listen(p);
    return server;
  }

  private action(type: string): Reply {
    if (type === "FlushMetrics") {
      if (!this.metricsPath) throw new Fault(400, "The metrics system is not initialized.");
      appendFileSync(this.metricsPath, JSON.stringify({ utc_timestamp_ms: Date.now() }) + "\n");
      return this.noContent();
    }
    if (type === "InstanceStart") {
      if (this.state !== "Not started") throw new Fault(400, PRE_BOOT_FAULT);
      if (!this.bootSource) throw new Fault(400, "Cannot start microvm without kernel configuration.");
      this.state = "Running";
      this.log("Successfully started microvm that was configured from one single json");
      this.opts.console(`[    0.000000] Linux version stand-in (walk Firecracker stand-in ${this.opts.id})`);
      this.opts.console(`[    0.000000] Command line: ${text(this.bootSource.boot_args ?? "")}`);
      return this.noContent();
    }
    // SendCtrlAltDel
    if (this.state === "Not started") throw new Fault(400, POST_BOOT_FAULT);
    if (this.opts.onCtrlAltDel === "reboot") {
      this.opts.console("reboot: Restarting system");
      // Firecracker exits on the guest's CPU reset, after it has answered the request.
      setTimeout(() => this.opts.exit(0), 20);
    }
    return this.noContent();
  }

  private createSnapshot(b: Body): Reply {
    if (this.state !== "Paused") throw new Fault(400, "Cannot create a snapshot: the microVM is not paused.");
    const config = { magic: SNAPSHOT_MAGIC, machine: this.machine, drives: [...this.drives.values()], ifaces: [...this.ifaces.values()], vsock: this.vsock?.body, entropy: this.entropy };
    writeFileSync(this.host(text(b.snapshot_path)), JSON.stringify(config));
    writeFileSync(this.host(text(b.mem_file_path)), Buffer.alloc(4096));
    return this.noContent();
  }

  private loadSnapshot(b: Body): Reply {
    if (this.configuredBootResources) throw new Fault(400, "Loading a microVM snapshot not allowed after configuring boot-specific resources.");
    const backend = b.mem_backend as Body | undefined;
    if ((b.mem_file_path === undefined) === (backend === undefined)) throw new Fault(400, "Exactly one of mem_file_path or mem_backend must be given.");
    const memPath = text(b.mem_file_path ?? backend!.backend_path);
    // From here on, failures end the process, as in Firecracker.
    let saved: { magic?: string; machine: Body; drives: Drive[]; ifaces: Body[]; vsock?: Body; entropy?: Body };
    try {
      mustOpen(this.host(memPath), constants.R_OK, "Cannot open the memory file");
      saved = JSON.parse(readFileSync(this.host(text(b.snapshot_path)), "utf8")) as typeof saved;
      if (saved.magic !== SNAPSHOT_MAGIC) throw new Fault(400, "Cannot load the microVM state: invalid snapshot file.");
      for (const d of saved.drives) mustOpen(this.host(d.path_on_host!), constants.R_OK, `Unable to restore block device ${d.drive_id}`);
    } catch (err) {
      throw new Fault(400, `Load snapshot error: ${(err as Error).message}`, true);
    }
    this.machine = saved.machine;
    for (const d of saved.drives) this.drives.set(d.drive_id, d);
    for (const i of saved.ifaces) this.ifaces.set(text(i.iface_id), i);
    this.entropy = saved.entropy;
    if (saved.vsock) {
      const override = b.vsock_override as Body | undefined;
      const udsPath = text(override?.uds_path ?? saved.vsock.uds_path);
      this.vsock = { body: { ...saved.vsock, uds_path: udsPath }, server: this.listenVsock(udsPath) };
    }
    this.configuredBootResources = true;
    this.state = b.resume_vm === true ? "Running" : "Paused";
    return this.noContent();
  }
}

/** A body value as text; bodies are schema-checked, so fields used here are strings. */
function text(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

function mustOpen(path: string, mode: number, what: string): void {
  try {
    accessSync(path, mode);
  } catch (err) {
    throw new Fault(400, `${what}: ${(err as Error).message}`);
  }
}
