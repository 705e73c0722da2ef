// Benchmark: converting images to app disks with walk against the peer pipeline
// (`skopeo copy` to an OCI layout, `umoci unpack`, `mkfs.ext4 -d`), and walk against merely
// decompressing the same layers, and against decompressing and reading their tar headers.
// Run: `npx tsc -p . && node dist/bench/build/run.js`.
// Sizes can be changed with BENCH_MB (default 150) and BENCH_DIR_ENTRIES (default 50000), the
// repetitions of walk's steps with BENCH_RUNS (default 3; the peer runs once, it is slow).
// Every step is timed in wall seconds and in CPU seconds (this process's threads, or the peer's
// child processes): on a shared machine the CPU time is the steadier number.
import { spawnSync } from "node:child_process";
import { createReadStream, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { buildImage, pseudoRandomBytes, writeOciLayout, type BuiltImage, type TarEntry } from "../../test/fixtures/images.js";
import { buildAppDisk, type BuildProgress } from "../../src/image/build.js";
import { compressionOf, decompress, readTar, DEFAULT_FLATTEN_LIMITS, type LayerInput } from "../../src/image/flatten/index.js";

const MB = Number(process.env.BENCH_MB ?? 150);
const DIR_ENTRIES = Number(process.env.BENCH_DIR_ENTRIES ?? 50_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

/** ~MB megabytes in ~5,000 files of varied size over 5 layers, half random, half text. */
async function manyFilesImage(): Promise<BuiltImage> {
  const files = 5000;
  const layers = 5;
  const avg = Math.floor((MB << 20) / files);
  const random = pseudoRandomBytes("bench-build", avg * 2);
  const text = Buffer.from("walk.io build benchmark: a line of compressible text for gzip to chew on\n".repeat(Math.ceil((avg * 2) / 74)));
  const specs = [];
  for (let l = 0; l < layers; l++) {
    const entries: TarEntry[] = [{ type: "dir", path: `layer${l}/` }];
    for (let i = 0; i < files / layers; i++) {
      const size = Math.floor(avg * (0.25 + ((i * 7919) % 1000) / 666));
      const half = Math.floor(size / 2);
      if (i % 50 === 0) entries.push({ type: "dir", path: `layer${l}/d${i / 50}/` });
      entries.push({ type: "file", path: `layer${l}/d${Math.floor(i / 50)}/f${i}`, content: Buffer.concat([random.subarray(i % avg, (i % avg) + half), text.subarray(0, size - half)]) });
    }
    specs.push({ entries, compression: "gzip" as const });
  }
  return buildImage({ layers: specs, config: { Cmd: ["/bin/true"] } });
}

async function bigDirImage(): Promise<BuiltImage> {
  const entries: TarEntry[] = [{ type: "dir", path: "big/" }];
  for (let i = 0; i < DIR_ENTRIES; i++) entries.push({ type: "file", path: `big/entry-${i.toString(36)}-${"x".repeat(i % 20)}`, content: i % 10 === 0 ? `file ${i}\n` : "" });
  return buildImage({ layers: [{ entries, compression: "gzip" }], config: { Cmd: ["/bin/true"] } });
}

function layersFrom(layout: string, image: BuiltImage): LayerInput[] {
  return image.layers.map((l) => ({
    digest: l.digest,
    diffId: l.diffId,
    mediaType: l.mediaType,
    open: async () => createReadStream(join(layout, "blobs", "sha256", l.digest.slice(7)), { highWaterMark: 1 << 20 }),
  }));
}

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
}

const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

/** CPU seconds of this process's threads and of its waited-for children, from /proc. */
function cpuSeconds(): { self: number; children: number } {
  const fields = readFileSync("/proc/self/stat", "latin1").split(") ")[1]!.split(" ");
  // After "pid (comm) ": state is field 3, utime 14, stime 15, cutime 16, cstime 17.
  const f = (n: number): number => Number(fields[n - 3]) / CLK_TCK;
  return { self: f(14) + f(15), children: f(16) + f(17) };
}

interface Timing {
  wall: number;
  cpu: number;
}

async function timed<T>(fn: () => Promise<T> | T): Promise<[Timing, T]> {
  const c0 = cpuSeconds();
  const t0 = performance.now();
  const v = await fn();
  const c1 = cpuSeconds();
  return [{ wall: (performance.now() - t0) / 1000, cpu: c1.self - c0.self + (c1.children - c0.children) }, v];
}

/** Decompresses each layer and reads every tar header, discarding the bytes. */
async function decompressAndReadTar(layers: readonly LayerInput[]): Promise<void> {
  for (const l of layers) {
    for await (const { body } of readTar(decompress(await l.open(), compressionOf(l.mediaType)), DEFAULT_FLATTEN_LIMITS)) for await (const _ of body) void _;
  }
}

/** Entries below `dir`: mkfs.ext4 -d does not size its inode table to what it is given. */
function countEntries(dir: string): number {
  const r = spawnSync("find", [dir], { encoding: "utf8", maxBuffer: 256 << 20 });
  return r.stdout.split("\n").length;
}

function duBytes(dir: string): number {
  const r = spawnSync("du", ["-sb", dir], { encoding: "utf8" });
  return Number(r.stdout.split("\t")[0]);
}

async function benchOne(name: string, image: BuiltImage, work: string): Promise<void> {
  const dir = join(work, name);
  const layout = join(dir, "layout");
  await mkdir(dir, { recursive: true });
  await writeOciLayout(layout, [{ image, tag: "latest" }]);
  const compressed = image.layers.reduce((n, l) => n + l.size, 0);
  const uncompressed = image.layers.reduce((n, l) => n + l.tar.length, 0);

  // Walk's steps run RUNS times (fresh data dir each time) and report the median: the machine is
  // shared and noisy. `sync` before each step keeps one step's writeback out of the next.
  const decompressRuns: Timing[] = [];
  const tarRuns: Timing[] = [];
  const walkRuns: Array<{ total: Timing; flatten: number }> = [];
  let disk: Awaited<ReturnType<typeof buildAppDisk>> | undefined;
  for (let run = 0; run < RUNS; run++) {
    sh("sync", []);
    const [d] = await timed(async () => {
      for (const l of layersFrom(layout, image)) for await (const _ of decompress(await l.open(), compressionOf(l.mediaType))) void _;
    });
    decompressRuns.push(d);
    const [t] = await timed(() => decompressAndReadTar(layersFrom(layout, image)));
    tarRuns.push(t);
    await rm(join(dir, "walk"), { recursive: true, force: true });
    sh("sync", []);
    let writeAt = 0;
    const onProgress = (p: BuildProgress): void => {
      if (p.phase === "write") writeAt = performance.now();
    };
    const start = performance.now();
    const [total, built] = await timed(() => buildAppDisk({ layers: layersFrom(layout, image), imageDigest: image.digest, config: image.configJson, outDir: join(dir, "walk"), onProgress }));
    walkRuns.push({ total, flatten: (writeAt - start) / 1000 });
    disk = built;
  }
  const median = <T>(xs: T[], key: (x: T) => number): T => [...xs].sort((a, b) => key(a) - key(b))[Math.floor(xs.length / 2)] as T;
  const medianTiming = (xs: Timing[]): Timing => ({ wall: median(xs, (x) => x.wall).wall, cpu: median(xs, (x) => x.cpu).cpu });
  const decompressT = medianTiming(decompressRuns);
  const tarT = medianTiming(tarRuns);
  const walkT = medianTiming(walkRuns.map((r) => r.total));
  const flattenS = median(walkRuns, (x) => x.total.wall).flatten;
  sh("sync", []);
  const [againT] = await timed(() => buildAppDisk({ layers: layersFrom(layout, image), imageDigest: image.digest, config: image.configJson, outDir: join(dir, "walk") }));
  const [newConfigT, derived] = await timed(() =>
    buildAppDisk({ layers: layersFrom(layout, image), imageDigest: image.digest, config: image.configJson, overrides: { env: ["BENCH=1"] }, outDir: join(dir, "walk") }),
  );
  if (derived.reused !== "base" || disk === undefined) throw new Error("the new config did not reuse the base disk");

  sh("sync", []);
  const rootless = process.getuid?.() === 0 ? [] : ["--rootless"];
  const [skopeoT] = await timed(() => sh("skopeo", ["copy", "-q", `oci:${layout}:latest`, `oci:${join(dir, "peer-layout")}:latest`]));
  const [umociT] = await timed(() => sh("umoci", ["unpack", ...rootless, "--image", `${join(dir, "peer-layout")}:latest`, join(dir, "bundle")]));
  const rootfs = join(dir, "bundle", "rootfs");
  const size = Math.ceil((duBytes(rootfs) * 1.3 + (64 << 20)) / 4096) * 4096;
  const peerDisk = join(dir, "peer.ext4");
  const inodes = countEntries(rootfs) + 1024;
  const [mkfsT] = await timed(() => {
    sh("truncate", ["-s", String(size), peerDisk]);
    sh("mkfs.ext4", ["-q", "-F", "-N", String(inodes), "-d", rootfs, peerDisk]);
  });
  const peerT: Timing = { wall: skopeoT.wall + umociT.wall + mkfsT.wall, cpu: skopeoT.cpu + umociT.cpu + mkfsT.cpu };
  const noSkopeoT: Timing = { wall: umociT.wall + mkfsT.wall, cpu: umociT.cpu + mkfsT.cpu };

  const f = (s: number): string => `${s.toFixed(2)} s`.padStart(8);
  const row = (label: string, t: Timing, note = ""): void => console.log(`${label.padEnd(34)}${f(t.wall)}${f(t.cpu)}   ${note}`);
  const ratio = (label: string, a: Timing, b: Timing, goal: string): void =>
    console.log(`${label.padEnd(34)}${(a.wall / b.wall).toFixed(2).padStart(8)}${(a.cpu / b.cpu).toFixed(2).padStart(8)}   ${goal}`);
  console.log(`\n== ${name}: ${image.layers.length} layers, ${(compressed / 2 ** 20).toFixed(1)} MiB compressed, ${(uncompressed / 2 ** 20).toFixed(1)} MiB uncompressed`);
  console.log(`${"".padEnd(34)}${"wall".padStart(8)}${"cpu".padStart(8)}`);
  row("walk build (new image)", walkT, `median of ${RUNS}, disk ${(disk.sizeBytes / 2 ** 20).toFixed(1)} MiB`);
  console.log(`${"  of which flatten (wall)".padEnd(34)}${f(flattenS)}           decompress, verify, tar, file data into the disk`);
  console.log(`${"  of which write+sync (wall)".padEnd(34)}${f(walkT.wall - flattenS)}           ext4 metadata, fsync, publish`);
  row("walk build (same config)", againT);
  row("walk build (new config)", newConfigT);
  row("decompress layers only", decompressT, `median of ${RUNS}`);
  row("decompress + read tar headers", tarT, `median of ${RUNS}`);
  row("peer: skopeo copy", skopeoT);
  row("peer: umoci unpack", umociT);
  row("peer: mkfs.ext4 -d", mkfsT, `disk ${(size / 2 ** 20).toFixed(1)} MiB`);
  ratio("ratio walk / peer", walkT, peerT, "goal <= 0.5");
  ratio("ratio walk / peer without skopeo", walkT, noSkopeoT, "");
  ratio("ratio walk / decompress", walkT, decompressT, "goal <= 1.25");
  ratio("ratio walk / (decompress + tar)", walkT, tarT, "the floor when entries, not bytes, dominate");
  ratio("ratio new config / new image", newConfigT, walkT, "");
}

const work = await mkdtemp(join(tmpdir(), "walk-bench-build-"));
try {
  console.log(`building fixture images (${MB} MB / 5000 files, and ${DIR_ENTRIES} entries in one directory)…`);
  const many = await manyFilesImage();
  await benchOne("many-files", many, work);
  const big = await bigDirImage();
  await benchOne("big-directory", big, work);
} finally {
  await rm(work, { recursive: true, force: true });
}
