// Benchmark: pull a ~200 MB multi-layer image from a local docker-registry with walk (pullImage
// into a fresh content store) and with `skopeo copy docker://… oci:…`, alternating, a few times
// each, and print the times and the ratio walk/skopeo of the medians (goal: <= 1.0).
//   node dist/bench/pull/run.js [--mib 200] [--layers 8] [--runs 3] [--concurrency 4] [--dir /tmp]
// --dir is where both tools write (e.g. /dev/shm takes the disk, and walk's fsyncs, out of it).
// Not a test: it asserts nothing beyond both tools getting the same image digest.
import { parseArgs } from "node:util";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { execChecked } from "../../src/lib/exec.js";
import { parseRegistryReference } from "../../src/oci/reference.js";
import { RegistrySource } from "../../src/oci/registry/index.js";
import { pullImage } from "../../src/image/pull.js";
import { BlobStore } from "../../src/image/store/index.js";
import { buildLargeImage } from "../../test/fixtures/images.js";
import { startRegistry, type RunningRegistry } from "../../test/harness/registry.js";

const { values } = parseArgs({
  options: {
    mib: { type: "string", default: "200" },
    layers: { type: "string", default: "8" },
    runs: { type: "string", default: "3" },
    concurrency: { type: "string", default: "4" },
    dir: { type: "string", default: tmpdir() },
  },
});
const mib = Number(values.mib);
const layers = Number(values.layers);
const runs = Number(values.runs);
const concurrency = Number(values.concurrency);
const workDir = values.dir;

const REPO = "bench/large";
const TAG = "v1";

/** CPU time of this process plus its reaped children, in ms (children via /proc/self/stat). */
async function cpuMs(): Promise<number> {
  const self = process.cpuUsage();
  const stat = await readFile("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // cutime and cstime are fields 16 and 17 of stat(5), in clock ticks (USER_HZ, 100 on Linux).
  const childTicks = Number(fields[13]) + Number(fields[14]);
  return (self.user + self.system) / 1000 + childTicks * 10;
}

/** Wall-clock and CPU time of `fn`. The machine may be shared; CPU time is the steadier number. */
async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; cpu: number; value: T }> {
  const cpu0 = await cpuMs();
  const start = process.hrtime.bigint();
  const value = await fn();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  return { ms, cpu: (await cpuMs()) - cpu0, value };
}

interface Run {
  ms: number;
  cpu: number;
  digest: string;
}

async function walkPull(reg: RunningRegistry): Promise<Run> {
  const dir = await mkdtemp(join(workDir, "walk-bench-store-"));
  try {
    const store = await BlobStore.open(dir);
    const source = new RegistrySource(parseRegistryReference(`${reg.host}/${REPO}:${TAG}`), { allowLoopbackPlainHttp: true });
    try {
      const { ms, cpu, value } = await timed(() => pullImage({ source, store, concurrency }));
      return { ms, cpu, digest: value.image.digest };
    } finally {
      await source.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function skopeoPull(reg: RunningRegistry): Promise<Run> {
  const dir = await mkdtemp(join(workDir, "walk-bench-skopeo-"));
  try {
    const { ms, cpu } = await timed(() =>
      execChecked("skopeo", ["copy", "-q", "--retry-times", "0", "--src-tls-verify=false", `docker://${reg.host}/${REPO}:${TAG}`, `oci:${dir}:${TAG}`], { timeoutMs: 600_000 }),
    );
    const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as { manifests: { digest: string }[] };
    return { ms, cpu, digest: index.manifests[0]?.digest ?? "" };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function main(): Promise<void> {
  const reg = await startRegistry({ mode: "plain" });
  try {
    // Random bytes barely compress, so the layers come out at about --mib in total.
    const built = await timed(() => buildLargeImage({ totalBytes: mib << 20, layers, compressible: 0 }));
    const image = built.value;
    const compressed = image.layers.reduce((n, l) => n + l.size, 0);
    console.log(`image: ${layers} layers, ${(compressed / 2 ** 20).toFixed(1)} MiB compressed (${mib} MiB of files), built in ${(built.ms / 1000).toFixed(1)} s`);
    const pushed = await timed(() => reg.push(REPO, TAG, image));
    console.log(`pushed to ${reg.url} in ${(pushed.ms / 1000).toFixed(1)} s; walk concurrency ${concurrency}; writing under ${workDir}; ${runs} runs each, alternating`);

    const results: Record<"walk" | "skopeo", Run[]> = { walk: [], skopeo: [] };
    for (let i = 0; i < runs; i++) {
      // Alternate who goes first so neither always gets the warmer cache.
      const order = i % 2 === 0 ? (["walk", "skopeo"] as const) : (["skopeo", "walk"] as const);
      for (const who of order) {
        const r = who === "walk" ? await walkPull(reg) : await skopeoPull(reg);
        if (r.digest !== image.digest) throw new Error(`${who} pulled ${r.digest}, expected ${image.digest}`);
        results[who].push(r);
        console.log(`run ${i + 1} ${who.padEnd(6)} ${(r.ms / 1000).toFixed(2)} s  ${(compressed / 2 ** 20 / (r.ms / 1000)).toFixed(0)} MiB/s  cpu ${(r.cpu / 1000).toFixed(2)} s`);
      }
    }
    const w = median(results.walk.map((r) => r.ms));
    const s = median(results.skopeo.map((r) => r.ms));
    const wc = median(results.walk.map((r) => r.cpu));
    const sc = median(results.skopeo.map((r) => r.cpu));
    console.log(`median cpu: walk ${(wc / 1000).toFixed(2)} s, skopeo ${(sc / 1000).toFixed(2)} s, ratio ${(wc / sc).toFixed(2)}; load average ${loadavg()[0]?.toFixed(1)}`);
    console.log(`median wall: walk ${(w / 1000).toFixed(2)} s, skopeo ${(s / 1000).toFixed(2)} s, ratio walk/skopeo ${(w / s).toFixed(2)} (goal <= 1.0)`);
  } finally {
    await reg.stop();
  }
}

await main();
