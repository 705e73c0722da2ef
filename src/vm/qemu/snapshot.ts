// QEMU snapshots for suspend/wake: the live-migration stream written to a file (`migrate` to
// `exec:cat > FILE`; QEMU 7.2 has no `file:` URI) and read back by a fresh QEMU started with
// `-incoming defer` (`migrate-incoming` from `exec:cat FILE`). The stream holds guest memory and
// device state: it is `SnapshotFiles.memoryPath`. `statePath` holds what the stream needs to be
// restored into (QEMU build, accelerator, machine shape, drives, tap): a restore into anything
// else is refused before QEMU is started. Disks are not in the stream: they must be left as they
// were. Owns the snapshot files only; it never starts or signals QEMU.
import { promises as fs } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { WalkError, writeFileAtomic } from "../../lib/index.js";
import type { MachineSpec, SnapshotFiles } from "../types.js";
import type { Accel } from "./accel.js";
import type { QmpControl } from "./qmp.js";

export const SNAPSHOT_FORMAT = "walk-qemu-snapshot/1";
/** Writing or loading a snapshot of a few hundred MiB; a bound, not an expectation. */
export const SNAPSHOT_TIMEOUT_MS = 120_000;
const MAX_STATE_BYTES = 64 * 1024;
const POLL_MS = 20;
/** The VM is paused while it is written, so nothing is gained by throttling the stream. */
const UNTHROTTLED_BYTES_PER_S = 64 * 1024 ** 3;

export interface SnapshotMeta {
  format: typeof SNAPSHOT_FORMAT;
  machine: string;
  /** QMP query-version: the exact build the stream came from. */
  qemu: string;
  accel: Accel;
  memMib: number;
  vcpus: number;
  drives: Array<{ id: string; path: string; readOnly: boolean; root: boolean }>;
  network: { tap: string; mac: string } | null;
  agent: boolean;
}

/** What a snapshot of this machine records, but the QEMU build. */
export function snapshotShape(spec: MachineSpec, accel: Accel): Omit<SnapshotMeta, "qemu"> {
  return {
    format: SNAPSHOT_FORMAT,
    machine: spec.id,
    accel,
    memMib: spec.memMib,
    vcpus: spec.vcpus,
    drives: spec.drives.map((d) => ({ id: d.id, path: d.path, readOnly: d.readOnly, root: d.root === true })),
    network: spec.network ? { tap: spec.network.tap, mac: spec.network.mac } : null,
    agent: spec.agentChannel !== undefined,
  };
}

export async function qemuVersion(qmp: QmpControl): Promise<string> {
  const v = (await qmp.execute("query-version")) as { qemu?: { major?: number; minor?: number; micro?: number }; package?: string };
  return `${v.qemu?.major}.${v.qemu?.minor}.${v.qemu?.micro}${v.package ? ` (${v.package.trim()})` : ""}`;
}

/** Single-quotes a path for the `/bin/sh -c` QEMU runs an exec: URI with. */
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Writes the stream of a paused VM to `files.memoryPath`, then `files.statePath`. Nothing is left on failure. */
export async function writeSnapshot(qmp: QmpControl, files: SnapshotFiles, meta: SnapshotMeta): Promise<void> {
  try {
    await fs.rm(files.memoryPath, { force: true });
    await qmp.execute("migrate-set-parameters", { "max-bandwidth": UNTHROTTLED_BYTES_PER_S });
    // Guest memory is as sensitive as the guest: the file is created 0600.
    await qmp.execute("migrate", { uri: `exec:umask 077; exec /bin/cat > ${shellQuote(files.memoryPath)}` });
    const deadline = Date.now() + SNAPSHOT_TIMEOUT_MS;
    for (;;) {
      const m = (await qmp.execute("query-migrate")) as { status?: string; "error-desc"?: string };
      if (m.status === "completed") break;
      if (m.status === "failed" || m.status === "cancelled") {
        throw new WalkError("internal", `QEMU could not write the snapshot of machine ${meta.machine} to ${files.memoryPath}: ${m["error-desc"] ?? m.status}`, { details: { machine: meta.machine } });
      }
      if (Date.now() > deadline) {
        await qmp.execute("migrate_cancel").catch(() => undefined);
        throw new WalkError("timeout", `the snapshot of machine ${meta.machine} was not written within ${SNAPSHOT_TIMEOUT_MS} ms`, { details: { machine: meta.machine } });
      }
      await sleep(POLL_MS);
    }
    await writeFileAtomic(files.statePath, JSON.stringify(meta, null, 2) + "\n", 0o600);
  } catch (err) {
    await fs.rm(files.memoryPath, { force: true }).catch(() => undefined);
    throw err;
  }
}

/**
 * Reads `files.statePath` and checks it against this machine (everything but the QEMU build, which
 * only the started QEMU can tell: checkSnapshotQemu), and that the stream file exists. Throws
 * `invalid_argument` naming the first difference, `not_found` for a missing file.
 */
export async function readSnapshot(files: SnapshotFiles, expected: Omit<SnapshotMeta, "qemu">): Promise<SnapshotMeta> {
  const refuse = (why: string): never => {
    throw new WalkError("invalid_argument", `cannot restore machine ${expected.machine} from the snapshot ${files.statePath}: ${why}`, { details: { machine: expected.machine, path: files.statePath } });
  };
  let text: string;
  try {
    const fh = await fs.open(files.statePath, "r");
    try {
      const buf = Buffer.alloc(MAX_STATE_BYTES + 1);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      if (bytesRead > MAX_STATE_BYTES) refuse(`it is larger than ${MAX_STATE_BYTES} bytes`);
      text = buf.subarray(0, bytesRead).toString("utf8");
    } finally {
      await fh.close();
    }
    await fs.access(files.memoryPath);
  } catch (err) {
    if (err instanceof WalkError) throw err;
    throw new WalkError("not_found", `cannot restore machine ${expected.machine}: ${(err as Error).message}`, { cause: err, details: { machine: expected.machine } });
  }
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return refuse("it is not JSON");
  }
  for (const [key, want] of Object.entries(expected)) {
    const got = JSON.stringify(meta[key]);
    if (got !== JSON.stringify(want)) refuse(`it was taken with ${key} ${got ?? "(missing)"}, this machine has ${JSON.stringify(want)}`);
  }
  if (typeof meta.qemu !== "string") refuse("it does not say which QEMU wrote it");
  return meta as unknown as SnapshotMeta;
}

/** A migration stream loads only into the QEMU build that wrote it (device state formats change). */
export function checkSnapshotQemu(meta: SnapshotMeta, files: SnapshotFiles, running: string): void {
  if (meta.qemu !== running) {
    throw new WalkError("invalid_argument", `cannot restore machine ${meta.machine} from the snapshot ${files.statePath}: it was written by QEMU ${meta.qemu}, this is QEMU ${running}`, { details: { machine: meta.machine, path: files.statePath } });
  }
}

/** Feeds the stream to a QEMU started with `-incoming defer` and waits until it is loaded (the VM then is paused). */
export async function loadSnapshot(qmp: QmpControl, files: SnapshotFiles, machine: string, exited: () => boolean): Promise<void> {
  await qmp.execute("migrate-incoming", { uri: `exec:exec /bin/cat ${shellQuote(files.memoryPath)}` });
  const deadline = Date.now() + SNAPSHOT_TIMEOUT_MS;
  // A stream QEMU cannot load ends the process (the caller reports its log); else the state leaves inmigrate.
  while (!exited()) {
    const status = await qmp.status();
    if (status !== "inmigrate") return;
    if (Date.now() > deadline) throw new WalkError("timeout", `machine ${machine}: the snapshot ${files.memoryPath} was not loaded within ${SNAPSHOT_TIMEOUT_MS} ms`, { details: { machine } });
    await sleep(POLL_MS);
  }
  throw new WalkError("internal", `QEMU exited while loading the snapshot ${files.memoryPath} of machine ${machine}`, { details: { machine } });
}
