// `walk base build` end to end through src/base: guest/build-all.sh (kernel, init, rootfs, all
// cached by content under WALK_CACHE_DIR or /var/cache/walk) installed as a verified base. A cold
// cache compiles the kernel (minutes); a warm one takes seconds.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUILD_PACKAGES, buildBase, listBases, missingBuildPackages, resolveBase, verifyBase } from "../../src/base/index.js";
import { isWalkError } from "../../src/lib/errors.js";
import { execFile } from "../../src/lib/exec.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "walk-base-build-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("buildBase installs kernel and rootfs as the default base, from the cache when warm", { timeout: 30 * 60_000 }, async () => {
  assert.deepEqual(await missingBuildPackages(), [], "this host has the build packages");
  const data = join(dir, "data");
  const progress: string[] = [];
  const b = await buildBase(data, { guestDir: join(process.cwd(), "guest"), onProgress: (l) => progress.push(l) });
  assert.match(b.version, /^6\.1\.[0-9]+-[0-9]+-[0-9a-f]{12}$/);
  assert.equal(b.isDefault, true);
  assert.equal(b.manifest?.origin, "build");
  assert.match(b.manifest?.kernelSource ?? "", /^linux-source-6\.1 /);
  assert.match(b.manifest?.configSha256 ?? "", /^[0-9a-f]{64}$/);
  assert.deepEqual(Object.keys(b.manifest?.files ?? {}).sort(), ["bzImage", "rootfs.ext4", "vmlinux"]);
  assert.ok(progress.some((l) => l.startsWith("kernel: ")), "progress lines reach the caller");
  await verifyBase(data, b.version);
  assert.equal((await resolveBase(data)).version, b.version);

  const again = await buildBase(data, { guestDir: join(process.cwd(), "guest") });
  assert.equal(again.version, b.version, "an unchanged build is the same base");
  assert.equal((await listBases(data)).length, 1);
});

test("the base rootfs is reproducible: two builds of the same init, apart in time, are the same bytes, and fsck-clean", async () => {
  const build = async (cache: string): Promise<string> => {
    const r = await execFile("bash", [join(process.cwd(), "guest", "rootfs", "build.sh"), "/bin/true"], { env: { ...process.env, WALK_CACHE_DIR: cache }, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    return join(r.stdout.trim(), "rootfs.ext4");
  };
  const first = await build(join(dir, "cache-a"));
  await new Promise((r) => setTimeout(r, 1100)); // the files staged for the second build get other times
  const second = await build(join(dir, "cache-b"));
  const sha = async (p: string): Promise<string> => createHash("sha256").update(await readFile(p)).digest("hex");
  assert.equal(await sha(second), await sha(first));
  const fsck = await execFile("e2fsck", ["-fn", first], { timeoutMs: 30_000 });
  assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
});

test("buildBase names the missing Debian packages and installs nothing", async () => {
  const fakeBin = join(dir, "bin");
  await rm(fakeBin, { recursive: true, force: true });
  await mkdir(fakeBin);
  // A dpkg-query that knows no package: every build package is missing.
  await writeFile(join(fakeBin, "dpkg-query"), "#!/bin/sh\nexit 1\n");
  await chmod(join(fakeBin, "dpkg-query"), 0o755);
  const saved = process.env.PATH;
  process.env.PATH = `${fakeBin}:${saved}`;
  try {
    const data = join(dir, "data-missing");
    await assert.rejects(
      buildBase(data),
      (e) => isWalkError(e, "unavailable") && e.message.includes(`apt-get install ${BUILD_PACKAGES.join(" ")}`),
    );
    await assert.rejects(readdir(join(data, "base")), { code: "ENOENT" });
  } finally {
    process.env.PATH = saved;
  }
});
