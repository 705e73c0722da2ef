// Shared fixture of the machine tests: a walkd on a temp dir with a guest base installed and a
// busybox image in an OCI layout, configured either with the Firecracker stand-in as its VMM
// (lifecycle logic, no guest) or with QEMU (real boots under TCG).
//
// With the stand-in there is no guest, so a preloaded hook plays the guest's part in the console:
// once the stand-in "boots" it waits, prints a line of workload output and the init's status
// report, and exits as Firecracker does when the guest reboots. What each boot does comes from
// `<dir>/sim.json` ({"boots": [exit code | "hang" | "crash", ...]}, the last entry repeats), and
// the boot counter is `<dir>/sim-boots`. Hook and wrapper are written per test dir.
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { importBase } from "../../src/base/index.js";
import { buildImage, writeOciLayout, type BuiltImage, type TarEntry } from "../fixtures/images.js";
import { startTestDaemon, type TestDaemon } from "../harness/daemon.js";
import { FIRECRACKER_SPEC_PATH } from "../harness/firecracker/control.js";
import { buildTestBase } from "../harness/qemu.js";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const STANDIN_JS = fileURLToPath(new URL("../harness/firecracker-standin.js", import.meta.url));

export type SimBoot = number | "hang" | "crash";

export interface MachineFixture {
  dir: string;
  d: TestDaemon;
  /** `oci:<layout>:v1`: the busybox image with /app/run.sh. */
  image: string;
  /** The same image, to push to a registry. */
  built: BuiltImage;
  /** What the next stand-in boots do. */
  simulate(boots: SimBoot[]): Promise<void>;
  /** Makes the stand-in answer `"METHOD /path"` with this fault (stand-in only). */
  setFaults(faults: Record<string, { status: number; fault_message: string }>): Promise<void>;
  /** Boots so far (stand-in only). */
  boots(): Promise<number>;
  /** Starts a second walkd on the same dirs after `d.stop()`. */
  restartDaemon(): Promise<TestDaemon>;
}

const HOOK = `
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
const dir = process.env.WALK_SIM_DIR;
const write = process.stdout.write.bind(process.stdout);
let booted = false;
process.stdout.write = (chunk, ...rest) => {
  const r = write(chunk, ...rest);
  if (!booted && String(chunk).includes("Command line:")) {
    booted = true;
    let n = 0;
    try { n = Number(readFileSync(dir + "/sim-boots", "utf8")) || 0; } catch {}
    writeFileSync(dir + "/sim-boots", String(n + 1));
    const boots = JSON.parse(readFileSync(dir + "/sim.json", "utf8")).boots;
    const what = boots[Math.min(n, boots.length - 1)];
    if (what !== "hang") {
      setTimeout(() => {
        if (what === "crash") process.exit(0);
        write("workload output of boot " + n + "\\r\\n");
        write("\\r\\nWALK-STATUS v1 exit=" + what + "\\r\\n", () => process.exit(0));
      }, 150);
    }
  }
  return r;
};
`;

/** The guest base artifacts, built once per process (guest/build-all.sh is cached by content). */
let baseBuild: Promise<{ kernel: string; rootfs: string }> | undefined;

/** The guest base, copied out of the build cache once per test process and removed when it exits. */
function guestBase(): Promise<{ kernel: string; rootfs: string }> {
  baseBuild ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), "walk-machine-base-"));
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    return buildTestBase(REPO_ROOT, dir);
  })();
  return baseBuild;
}

const applets = (): string[] =>
  execFileSync("/bin/busybox", ["--list"], { encoding: "utf8" })
    .split("\n")
    .filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== "busybox");

/** A busybox image whose entrypoint /app/run.sh is `script`; `config` adds image config fields. */
export async function buildScriptImage(script: string, config: Record<string, unknown> = {}): Promise<BuiltImage> {
  const entries: TarEntry[] = [
    { type: "dir", path: "bin/", mode: 0o755 },
    { type: "file", path: "bin/busybox", mode: 0o755, content: readFileSync("/bin/busybox") },
    ...applets().map((a): TarEntry => ({ type: "symlink", path: `bin/${a}`, target: "busybox" })),
    { type: "dir", path: "etc/", mode: 0o755 },
    { type: "file", path: "etc/passwd", content: "root:x:0:0:root:/root:/bin/sh\n" },
    { type: "file", path: "etc/group", content: "root:x:0:\n" },
    { type: "dir", path: "app/", mode: 0o755 },
    { type: "file", path: "app/run.sh", mode: 0o755, content: script },
  ];
  return buildImage({ layers: [{ entries }], config: { Entrypoint: ["/app/run.sh"], Env: ["PATH=/bin"], ...config } });
}

/** A script serving `text` at / with busybox httpd on port 8080, after printing "<text> starting". */
export const servingScript = (text: string): string => `#!/bin/sh
mkdir -p /tmp/www && echo "${text}" > /tmp/www/index.html
echo "${text} starting"
exec httpd -f -p 8080 -h /tmp/www
`;

export const DEFAULT_SCRIPT = '#!/bin/sh\necho "hello from $(hostname)"\nexit "${1:-0}"\n';

export async function machineFixture(opts: { backend: "standin" | "qemu"; script?: string; extraConfig?: string } = { backend: "standin" }): Promise<MachineFixture> {
  const dir = await mkdtemp(join(tmpdir(), "walk-machine-"));
  const layout = join(dir, "layout");
  const built = await buildScriptImage(opts.script ?? DEFAULT_SCRIPT);
  await writeOciLayout(layout, [{ image: built, tag: "v1" }]);
  let backendToml: string;
  if (opts.backend === "standin") {
    await writeFile(join(dir, "sim-hook.mjs"), HOOK);
    await writeFile(join(dir, "sim.json"), JSON.stringify({ boots: ["hang"] }));
    await writeFile(join(dir, "standin-requests.jsonl"), "");
    const vars = { FC_STANDIN_SPEC: FIRECRACKER_SPEC_PATH, FC_STANDIN_LOG: join(dir, "standin-requests.jsonl"), FC_STANDIN_FAULTS: join(dir, "standin-faults.json"), WALK_SIM_DIR: dir };
    const wrapper = join(dir, "firecracker");
    await writeFile(
      wrapper,
      ["#!/bin/sh", ...Object.entries(vars).map(([k, v]) => `export ${k}='${v}'`), `exec '${process.execPath}' --import '${join(dir, "sim-hook.mjs")}' '${STANDIN_JS}' "$@"`, ""].join("\n"),
    );
    await chmod(wrapper, 0o755);
    backendToml = `[machines]\nbackend = "firecracker"\n${MACHINE_TIMING}\n[firecracker]\nbinary = "${wrapper}"\n`;
  } else {
    backendToml = `[machines]\nbackend = "qemu"\n${MACHINE_TIMING}\n[qemu]\naccel = "tcg"\n`;
  }
  await writeFile(join(dir, "walkd.toml"), backendToml + (opts.extraConfig ?? ""));
  const start = async (): Promise<TestDaemon> => startTestDaemon({ dir, flags: { config: join(dir, "walkd.toml") } });
  const base = await guestBase();
  await mkdir(join(dir, "data"), { recursive: true });
  await importBase(join(dir, "data"), { kernel: base.kernel, rootfs: base.rootfs });
  const d = await start();
  return {
    dir,
    d,
    image: `oci:${layout}:v1`,
    built,
    simulate: (boots) => writeFile(join(dir, "sim.json"), JSON.stringify({ boots })),
    setFaults: (faults) => writeFile(join(dir, "standin-faults.json"), JSON.stringify(faults)),
    boots: async () => Number(await readFile(join(dir, "sim-boots"), "utf8").catch(() => "0")),
    restartDaemon: start,
  };
}

/** Short backoff and fast polling so policy tests finish quickly; not timing assertions. */
// network = "none": these walkds run in the host namespace, where tests must not make taps or rules
// (the networking tests run walkd in a namespace of their own).
const MACHINE_TIMING = "restart_backoff_initial_ms = 50\nrestart_backoff_max_ms = 400\npoll_ms = 50\nstop_timeout = 10\nnetwork = \"none\"";
