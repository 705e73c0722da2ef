import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execChecked } from "../lib/exec.js";
import { isWalkError } from "../lib/errors.js";
import { importBase, kernelKind } from "./import.js";
import { getDefaultBase, listBases, resolveBase, setDefaultBase, verifyBase } from "./store.js";

let dir: string;
let elf: string;
let bz: string;
let rootfs: string;

/** A file with just the header bytes import checks: an x86_64 ELF. */
function fakeElf(machine = 62): Buffer {
  const b = Buffer.alloc(128);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2;
  b.writeUInt16LE(machine, 18);
  return b;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "walk-base-store-"));
  elf = join(dir, "vmlinux-in");
  await writeFile(elf, fakeElf());
  bz = join(dir, "bzImage-in");
  const bzb = Buffer.alloc(0x300);
  bzb.write("HdrS", 0x202, "latin1");
  await writeFile(bz, bzb);
  const stage = join(dir, "stage");
  await mkdir(join(stage, "sbin"), { recursive: true });
  await writeFile(join(stage, "sbin/walk-init"), "init");
  await chmod(join(stage, "sbin/walk-init"), 0o755);
  rootfs = join(dir, "rootfs-in.ext4");
  await execChecked("mkfs.ext4", ["-q", "-F", "-d", stage, rootfs, "2M"]);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("kernelKind tells vmlinux from bzImage and refuses anything else", async () => {
  assert.equal(await kernelKind(elf), "vmlinux");
  assert.equal(await kernelKind(bz), "bzImage");
  const arm = join(dir, "arm-elf");
  await writeFile(arm, fakeElf(183));
  await assert.rejects(kernelKind(arm), (e) => isWalkError(e, "invalid_argument") && /neither an x86_64 ELF vmlinux nor a bzImage/.test(e.message));
  await assert.rejects(kernelKind(join(dir, "nope")), (e) => isWalkError(e, "not_found"));
});

test("import installs a verified base atomically, idempotently, and marks the first one default", async () => {
  const data = join(dir, "data1");
  assert.deepEqual(await listBases(data), []);
  await assert.rejects(resolveBase(data), (e) => isWalkError(e, "not_found") && /walk base build/.test(e.message));

  const a = await importBase(data, { kernel: elf, rootfs });
  assert.match(a.version, /^import-[0-9a-f]{12}$/);
  assert.equal(a.isDefault, true);
  assert.equal(a.manifest?.origin, "import");
  assert.deepEqual(Object.keys(a.manifest?.files ?? {}).sort(), ["rootfs.ext4", "vmlinux"]);
  assert.equal(await readFile(join(a.dir, "vmlinux"), "latin1"), fakeElf().toString("latin1"));
  await verifyBase(data, a.version);

  const again = await importBase(data, { kernel: elf, rootfs });
  assert.equal(again.version, a.version, "same content, same version");
  const b = await importBase(data, { kernel: bz, rootfs });
  assert.notEqual(b.version, a.version);
  assert.equal(b.isDefault, false, "a later base does not take the default unless asked");
  assert.ok(b.paths?.bzImage && !b.paths.vmlinux);

  await setDefaultBase(data, b.version);
  assert.equal(await getDefaultBase(data), b.version);
  const list = await listBases(data);
  assert.deepEqual(list.map((x) => [x.version, x.isDefault]), [[a.version, false], [b.version, true]]);
  assert.deepEqual((await readdir(join(data, "base"))).filter((n) => n.startsWith(".")), [], "no temp dirs left");

  // Damage a file: verification names it, and a re-import repairs the base in place.
  await chmod(join(a.dir, "vmlinux"), 0o644);
  await writeFile(join(a.dir, "vmlinux"), "tampered");
  await assert.rejects(verifyBase(data, a.version), (e) => isWalkError(e, "digest_mismatch") && /vmlinux/.test(e.message));
  await importBase(data, { kernel: elf, rootfs });
  await verifyBase(data, a.version);

  // A broken manifest is listed with its problem, not hidden, and cannot be resolved.
  await writeFile(join(b.dir, "manifest.json"), "{");
  const broken = (await listBases(data)).find((x) => x.version === b.version);
  assert.match(broken?.problem ?? "", /not valid JSON/);
  await assert.rejects(resolveBase(data, b.version), (e) => isWalkError(e, "unprocessable"));
  await assert.rejects(setDefaultBase(data, "no-such"), (e) => isWalkError(e, "not_found"));
});

test("import refuses bad inputs and leaves nothing behind", async () => {
  const data = join(dir, "data2");
  const notExt4 = join(dir, "not-ext4");
  await writeFile(notExt4, Buffer.alloc(4096));
  await assert.rejects(importBase(data, { kernel: elf, rootfs: notExt4 }), (e) => isWalkError(e, "invalid_argument") && /not an ext4/.test(e.message));
  const noInit = join(dir, "no-init.ext4");
  await execChecked("mkfs.ext4", ["-q", "-F", noInit, "2M"]);
  await assert.rejects(importBase(data, { kernel: elf, rootfs: noInit }), (e) => isWalkError(e, "invalid_argument") && /\/sbin\/walk-init/.test(e.message));
  await assert.rejects(importBase(data, { kernel: rootfs, rootfs }), (e) => isWalkError(e, "invalid_argument") && /kernel/.test(e.message));
  await assert.rejects(importBase(data, { kernel: elf, rootfs, firecracker: rootfs }), (e) => isWalkError(e, "invalid_argument") && /firecracker/.test(e.message));
  assert.deepEqual(await listBases(data), []);
});

test("import without a rootfs builds walk's own and can carry a firecracker binary", async () => {
  const data = join(dir, "data3");
  const fc = join(dir, "firecracker-in");
  await writeFile(fc, fakeElf());
  const a = await importBase(data, { kernel: elf, firecracker: fc }, { cacheDir: join(dir, "cache") });
  assert.ok(a.paths?.firecracker);
  assert.ok(a.manifest?.files["rootfs.ext4"]);
  const r = await execChecked("debugfs", ["-R", "stat /sbin/walk-init", a.paths.rootfs]);
  assert.match(r.stdout, /Type: regular/);
});
