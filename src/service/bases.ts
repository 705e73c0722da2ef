// The base service: lists, builds (as a job) and imports guest bases — the kernel and the rootfs
// holding walk-init — in the data dir, through src/base.
import { isAbsolute } from "node:path";
import { WalkError, type Logger } from "../lib/index.js";
import { buildBase, importBase, listBases, setDefaultBase, type BaseEntry, type BasePaths } from "../base/index.js";
import type { JobRecord } from "../store/index.js";
import type { BaseBuildRequest, BaseImportRequest, BaseWire } from "../api/schemas.js";
import type { JobService } from "./jobs.js";

export class BaseService {
  constructor(
    private readonly dataDir: string,
    private readonly jobs: JobService,
    private readonly log: Logger,
  ) {}

  async list(): Promise<BaseWire[]> {
    return (await listBases(this.dataDir)).map(wire);
  }

  /** Builds the kernel, init and rootfs from Debian packages; progress lines are job events. */
  startBuild(req: BaseBuildRequest): JobRecord {
    return this.jobs.start("base-build", req, async ({ emit }) => {
      const entry = await buildBase(this.dataDir, {
        installPackages: req.install_packages ?? false,
        makeDefault: req.make_default ?? false,
        onProgress: (line) => emit({ type: "log", line }),
      });
      this.log.info({ version: entry.version }, "built guest base");
      return wire(entry);
    });
  }

  async import(req: BaseImportRequest): Promise<BaseWire> {
    for (const [what, p] of [["kernel", req.kernel], ["rootfs", req.rootfs], ["firecracker", req.firecracker]] as const) {
      if (p !== undefined && !isAbsolute(p)) throw new WalkError("invalid_argument", `the ${what} path must be absolute, got ${JSON.stringify(p)}`);
    }
    const entry = await importBase(this.dataDir, {
      kernel: req.kernel,
      ...(req.rootfs !== undefined ? { rootfs: req.rootfs } : {}),
      ...(req.firecracker !== undefined ? { firecracker: req.firecracker } : {}),
      makeDefault: req.make_default ?? false,
    });
    this.log.info({ version: entry.version }, "imported guest base");
    return wire(entry);
  }

  async setDefault(version: string): Promise<BaseWire> {
    const entry = (await listBases(this.dataDir)).find((b) => b.version === version);
    if (!entry) throw new WalkError("not_found", `no base ${version}; see walk base ls`);
    if (entry.problem !== undefined) throw new WalkError("conflict", `base ${version} is unusable: ${entry.problem}`);
    await setDefaultBase(this.dataDir, version);
    return wire({ ...entry, isDefault: true });
  }
}

function wire(b: BaseEntry): BaseWire {
  const files: BaseWire["files"] = {};
  for (const [name, digest] of Object.entries(b.manifest?.files ?? {})) {
    // The manifest names the rootfs by its file name; BasePaths calls it `rootfs`.
    const path = b.paths?.[name === "rootfs.ext4" ? "rootfs" : (name as keyof BasePaths)];
    if (digest && path) files[name] = { path, sha256: digest.sha256, size: digest.size };
  }
  return {
    version: b.version,
    default: b.isDefault,
    origin: b.manifest?.origin ?? null,
    kernel_source: b.manifest?.kernelSource ?? null,
    created_at: b.manifest?.created ?? null,
    files,
    problem: b.problem ?? null,
  };
}
