// The snapshot state file as a restore reads it: hostile or stale files are refused with the
// reason, before any QEMU is started.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isWalkError } from "../../lib/index.js";
import type { MachineSpec } from "../types.js";
import { checkSnapshotQemu, readSnapshot, snapshotShape } from "./snapshot.js";

const spec: MachineSpec = {
  id: "m1",
  kernelPath: "/k",
  bootArgs: "",
  drives: [{ id: "vda", path: "/d/base", readOnly: true, root: true }],
  vcpus: 1,
  memMib: 128,
  consoleLogPath: "/c",
  runtimeDir: "/r",
};
const shape = snapshotShape(spec, "tcg");

async function withFiles(state: string | Buffer, fn: (files: { statePath: string; memoryPath: string }) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "walk-qemu-snap-"));
  const files = { statePath: join(dir, "state"), memoryPath: join(dir, "memory") };
  await writeFile(files.statePath, state);
  await writeFile(files.memoryPath, "");
  try {
    await fn(files);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const refused = (re: RegExp) => (err: unknown) => isWalkError(err, "invalid_argument") && re.test((err as Error).message);

test("a matching state file is read back", async () => {
  await withFiles(JSON.stringify({ ...shape, qemu: "7.2.22" }), async (files) => {
    assert.deepEqual(await readSnapshot(files, shape), { ...shape, qemu: "7.2.22" });
  });
});

test("oversized, non-JSON, other-shape and unsigned state files are refused", async () => {
  await withFiles(Buffer.alloc(64 * 1024 + 1, 0x20), (f) => assert.rejects(readSnapshot(f, shape), refused(/larger than 65536 bytes/)));
  await withFiles("{not json", (f) => assert.rejects(readSnapshot(f, shape), refused(/not JSON/)));
  await withFiles(JSON.stringify({ ...shape, qemu: "7.2.22", vcpus: 2 }), (f) => assert.rejects(readSnapshot(f, shape), refused(/taken with vcpus 2, this machine has 1/)));
  await withFiles(JSON.stringify({ ...shape, qemu: "7.2.22", format: "other/9" }), (f) => assert.rejects(readSnapshot(f, shape), refused(/taken with format "other\/9"/)));
  await withFiles(JSON.stringify({ ...shape, qemu: "7.2.22", drives: [] }), (f) => assert.rejects(readSnapshot(f, shape), refused(/taken with drives \[\]/)));
  await withFiles(JSON.stringify(shape), (f) => assert.rejects(readSnapshot(f, shape), refused(/does not say which QEMU wrote it/)));
});

test("a missing stream file is not_found; another QEMU build is refused", async () => {
  await withFiles(JSON.stringify({ ...shape, qemu: "7.2.22" }), async (files) => {
    await rm(files.memoryPath);
    await assert.rejects(readSnapshot(files, shape), (err: unknown) => isWalkError(err, "not_found") && /memory/.test((err as Error).message));
    assert.throws(() => checkSnapshotQemu({ ...shape, qemu: "7.2.22" }, files, "8.0.0"), refused(/written by QEMU 7\.2\.22, this is QEMU 8\.0\.0/));
    assert.doesNotThrow(() => checkSnapshotQemu({ ...shape, qemu: "7.2.22" }, files, "7.2.22"));
  });
});
