// The cold path's real apps: a walkd (bench/run/walkd.ts) with the QEMU backend under TCG, inside a
// network namespace this bench creates (its taps, its nft table, its activator on the namespace's
// 127.0.0.1:8040), serving two apps of one busybox httpd image built here (no downloads):
// cold-boot (autostop = "stop") and cold-resume (autostop = "suspend"). Requests come from a
// client process inside the namespace (the http-get probe of test/harness/netns.ts), so traffic
// never leaves it. close() removes everything this made: walkd, any VMM left, the namespace (with
// the taps in it), the temp dir; SIGINT and SIGTERM run it too. Every wait is bounded.
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { importBase } from "../../src/base/index.js";
import { writeOciLayout } from "../../test/fixtures/images.js";
import { Netns, type HttpGot } from "../../test/harness/netns.js";
import { buildTestBase } from "../../test/harness/qemu.js";
import { buildScriptImage, servingScript } from "../../test/integration/machine-fixture.js";
import { startWalkd, type BenchDaemon } from "../run/walkd.js";

export type ColdKind = "boot" | "resume";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const ACTIVATOR_PORT = 8040;
const WALKD_CONFIG = `[machines]\nbackend = "qemu"\n\n[qemu]\naccel = "tcg"\n\n[activator]\nlisten = "127.0.0.1:${ACTIVATOR_PORT}"\n`;
/** What the workload serves at /: a response is checked to be the app's, not walkd's own page. */
const BODY = "cold";
export const GUEST_MEMORY_MIB = 128;
/** Bounds: the app's wake_timeout (a boot under TCG on a loaded 2-core host), and one idle (cooldown, idle timeout, stop or suspend). */
const WAKE_MS = 60_000;
const IDLE_MS = 120_000;
/** Past the wake budget, so a wake that never ends comes back as the activator's 503, not as a killed client. */
const CLIENT_MS = WAKE_MS + 15_000;
const SIGNALS = ["SIGINT", "SIGTERM"] as const;

const appName = (kind: ColdKind): string => `cold-${kind}`;

// idle_timeout = 1 s, the shortest: each sample waits for it, after the activator's 10 s cooldown
// from the wake (not settable per app). No health check: both apps are ready when their port
// accepts, so the two kinds wait for the same thing.
const walkToml = (kind: ColdKind, image: string): string =>
  `name = "${appName(kind)}"\nimage = "${image}"\nmemory_mib = ${GUEST_MEMORY_MIB}\n[[services]]\ninternal_port = 8080\nautostop = "${kind === "boot" ? "stop" : "suspend"}"\nidle_timeout = 1\nwake_timeout = ${WAKE_MS / 1000}\n`;

export class ColdApps {
  private ns: Netns | undefined;
  private walkd: BenchDaemon | undefined;
  private closing: Promise<void> | undefined;
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    console.error(`\n${sig}: cleaning up`);
    void this.close().finally(() => process.exit(130));
  };

  private constructor(private readonly dir: string) {
    for (const sig of SIGNALS) process.once(sig, this.onSignal);
  }

  /** Builds the base, the image and walkd, and deploys both apps (nothing boots yet). */
  static async start(): Promise<ColdApps> {
    const apps = new ColdApps(await mkdtemp(join(tmpdir(), "walk-bench-cold-")));
    try {
      await apps.setUp();
      return apps;
    } catch (err) {
      const e = await apps.withLog(err);
      await apps.close();
      throw e;
    }
  }

  private async setUp(): Promise<void> {
    const dir = this.dir;
    this.ns = await Netns.create("cold");
    const base = await buildTestBase(REPO_ROOT, join(dir, "base"));
    await mkdir(join(dir, "data"));
    await importBase(join(dir, "data"), { kernel: base.kernel, rootfs: base.rootfs });
    await writeOciLayout(join(dir, "layout"), [{ image: await buildScriptImage(servingScript(BODY)), tag: "v1" }]);
    this.walkd = await startWalkd(dir, { config: WALKD_CONFIG, netns: ["ip", "netns", "exec", this.ns.name] });
    for (const kind of ["boot", "resume"] as const) await this.walkd.client.deploy({ config: walkToml(kind, `oci:${join(dir, "layout")}:v1`) });
  }

  /** One GET of the app's / through the activator, from inside the namespace; a non-200 or another body throws. */
  async get(kind: ColdKind): Promise<HttpGot> {
    const [r] = await this.ns!.probe<HttpGot[]>(["http-get", String(ACTIVATOR_PORT), `${appName(kind)}.localhost`, "/", "1"], CLIENT_MS);
    if (r!.status !== 200 || r!.body.trim() !== BODY) throw await this.withLog(new Error(`${appName(kind)} answered ${r!.status}: ${r!.body.slice(0, 200)}`));
    return r!;
  }

  /** Waits until the app's machine is stopped, and for cold-resume until its snapshot is recorded. */
  async waitAsleep(kind: ColdKind): Promise<void> {
    const client = this.walkd!.client;
    const until = Date.now() + IDLE_MS;
    for (;;) {
      const m = (await client.app(appName(kind))).machines[0];
      const snapshotted = kind === "boot" || (m !== undefined && m.snapshot_generation === m.generation);
      if (m !== undefined && snapshotted && m.state === "stopped") return;
      if (Date.now() > until) throw await this.withLog(new Error(`${appName(kind)} did not go to sleep within ${IDLE_MS / 1000} s`));
      await sleep(100);
    }
  }

  /** `err` with the end of walkd's log appended (what a failed wake or idle left there); read it before close(). */
  async withLog(err: unknown): Promise<Error> {
    const e = err instanceof Error ? err : new Error(String(err));
    const log = await this.walkd?.logTail();
    return log ? new Error(`${e.message}\nwalkd's log ends:\n${log}`, { cause: e }) : e;
  }

  /** Stops walkd, kills any VMM left, deletes the namespace and the temp dir. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.walkd?.close();
      await this.ns?.destroy();
      await rm(this.dir, { recursive: true, force: true });
      for (const sig of SIGNALS) process.off(sig, this.onSignal);
    })();
    return this.closing;
  }
}
