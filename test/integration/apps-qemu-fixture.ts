// Shared setup of the apps tests on real guests (apps-qemu*.test.ts): a temp dir, a network
// namespace H, the guest base, busybox script images in an OCI layout, and the compiled walkd
// running inside H (QEMU backend under TCG; its taps, nft table and the activator on H's
// 127.0.0.1:8040). Clients are probe processes in H (test/harness/netns.ts), so traffic never
// leaves it. close() removes the apps, stops walkd, kills whatever still runs in H (a QEMU guest
// walkd left, a probe), deletes H and the temp dir; a start that fails cleans up the same way.
import { spawn, type ChildProcess } from "node:child_process";
import { access, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { importBase } from "../../src/base/index.js";
import { WalkClient } from "../../src/cli/client.js";
import { writeOciLayout } from "../fixtures/images.js";
import { Netns, type HttpGot } from "../harness/netns.js";
import { buildTestBase } from "../harness/qemu.js";
import { buildScriptImage } from "./machine-fixture.js";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const WALKD = fileURLToPath(new URL("../../src/daemon/main.js", import.meta.url));
export const ACTIVATOR_PORT = 8040;
/** walkd's graceful stop; then it is killed. */
const WALKD_STOP_MS = 15_000;

/** What a test reads of a response that went through the activator. */
export interface AppGot {
  status: number;
  wake: string | null;
  retryAfter: string | null;
  body: string;
}

/** walk.toml of a 128 MiB app with one service on port 8080; `extra` adds service keys. */
/** walk.toml text: `extra` goes in the service, `top` in the app (e.g. max_machines). */
export const appToml = (name: string, image: string, extra = "", top = ""): string => `name = "${name}"\nimage = "${image}"\nmemory_mib = 128\n${top}\n[[services]]\ninternal_port = 8080\n${extra}\n`;

/** Polls `fn` every 250 ms, `tries` times at most. */
export async function until(what: string, fn: () => Promise<boolean>, tries = 400): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`gave up waiting for ${what}`);
}

export class AppsQemu {
  /** Image references by tag, `oci:<layout>:<tag>`. */
  readonly images: Record<string, string> = {};
  /** walkd's log (stderr, pino JSON lines at info) so far. */
  readonly walkdLog: string[] = [];

  /** walkd's log lines so far, parsed (a line that is not JSON is left out). */
  logEntries(): Array<Record<string, unknown>> {
    return this.walkdLog
      .join("")
      .split("\n")
      .filter((l) => l.startsWith("{") && l.endsWith("}"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
  readonly client: WalkClient;
  private walkd: ChildProcess | undefined;

  private constructor(
    readonly dir: string,
    readonly H: Netns,
  ) {
    this.client = new WalkClient({ kind: "unix", path: join(dir, "run", "walkd.sock") });
  }

  /** A walkd in a new namespace `label`, with one image per entry of `scripts` (tag → /app/run.sh). */
  static async start(label: string, scripts: Record<string, string>): Promise<AppsQemu> {
    const f = new AppsQemu(await mkdtemp(join(tmpdir(), `walk-apps-${label}-`)), await Netns.create(label));
    try {
      await f.setUp(scripts);
      return f;
    } catch (err) {
      await f.close();
      throw err;
    }
  }

  private async setUp(scripts: Record<string, string>): Promise<void> {
    const { dir, H } = this;
    const base = await buildTestBase(REPO_ROOT, join(dir, "base"));
    await mkdir(join(dir, "data"), { recursive: true });
    await importBase(join(dir, "data"), { kernel: base.kernel, rootfs: base.rootfs });
    const layout = join(dir, "layout");
    const tags = Object.keys(scripts);
    await writeOciLayout(layout, await Promise.all(tags.map(async (tag) => ({ image: await buildScriptImage(scripts[tag]!), tag }))));
    for (const tag of tags) this.images[tag] = `oci:${layout}:${tag}`;
    await writeFile(
      join(dir, "walkd.toml"),
      `[machines]\nbackend = "qemu"\npoll_ms = 50\nstop_timeout = 5\n[qemu]\naccel = "tcg"\n[network]\npool = "10.233.0.0/24"\n[activator]\nlisten = "127.0.0.1:${ACTIVATOR_PORT}"\n`,
    );
    const sock = join(dir, "run", "walkd.sock");
    this.walkd = spawn("ip", ["netns", "exec", H.name, process.execPath, WALKD, "--config", join(dir, "walkd.toml"), "--data-dir", join(dir, "data"), "--runtime-dir", join(dir, "run"), "--log-level", "info"], { stdio: ["ignore", "ignore", "pipe"] });
    this.walkd.stderr!.setEncoding("utf8").on("data", (d: string) => this.walkdLog.push(d));
    await until("walkd in H", async () => (await access(sock).then(() => true, () => false)) && (await this.client.apps().then(() => true, () => false)), 300);
  }

  /** `n` concurrent GETs of `path` through the activator, from inside H. */
  async get(host: string, n = 1, path = "/"): Promise<AppGot[]> {
    const got = await this.H.probe<HttpGot[]>(["http-get", String(ACTIVATOR_PORT), host, path, String(n)], 120_000);
    const header = (r: HttpGot, name: string): string | null => (r.headers[name] as string | undefined) ?? null;
    return got.map((r) => ({ status: r.status, wake: header(r, "x-walk-wake"), retryAfter: header(r, "retry-after"), body: r.body.trim() }));
  }

  async close(): Promise<void> {
    for (const a of await this.client.apps().catch(() => [])) await this.client.removeApp(a.name).catch(() => undefined);
    const walkd = this.walkd;
    if (walkd && walkd.exitCode === null && walkd.signalCode === null) {
      const exited = new Promise((r) => walkd.once("exit", r));
      walkd.kill("SIGTERM");
      const t = setTimeout(() => walkd.kill("SIGKILL"), WALKD_STOP_MS);
      await exited;
      clearTimeout(t);
    }
    await this.H.destroy();
    await rm(this.dir, { recursive: true, force: true });
  }
}
