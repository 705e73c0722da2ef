// The benchmark's reference: the same guest booted by a QEMU command line written by hand, with
// none of walk (no daemon, no CLI, no QMP, no -S hold, no sandbox, no console file), its serial
// console on a pipe the bench reads. The guest hardware is walk's (microvm without ACPI, an
// i8042, three virtio-mmio disks in the same order), so the guest does the same work.
import { spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import { cpuMsOf } from "./proc.js";

export interface HandBootInput {
  qemu: string;
  kernel: string;
  /** The guest's kernel command line, as walk gives it (tsc_early_khz included: TCG needs it). */
  bootArgs: string;
  rootfs: string;
  app: string;
  state: string;
  memMib: number;
  /** The workload's first output. */
  marker: string;
  timeoutMs: number;
}

export interface HandBoot {
  /** Spawn to the marker on the pipe. */
  firstOutputMs: number;
  /** QEMU's CPU time when the marker arrived. */
  qemuCpuMs: number | undefined;
  /** Spawn to QEMU's exit (the workload exited, the guest rebooted). */
  exitMs: number;
}

export function handArgs(i: HandBootInput): string[] {
  for (const p of [i.rootfs, i.app, i.state]) if (p.includes(",")) throw new Error(`the hand-written command line does not escape commas: ${p}`);
  return [
    "-M", "microvm,acpi=off", "-accel", "tcg", "-cpu", "max", "-m", String(i.memMib), "-smp", "1",
    "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
    "-kernel", i.kernel, "-append", i.bootArgs,
    "-serial", "stdio", "-device", "i8042",
    "-drive", `id=vda,file=${i.rootfs},format=raw,if=none,readonly=on`, "-device", "virtio-blk-device,drive=vda",
    "-drive", `id=vdb,file=${i.app},format=raw,if=none,readonly=on`, "-device", "virtio-blk-device,drive=vdb",
    "-drive", `id=vdc,file=${i.state},format=raw,if=none`, "-device", "virtio-blk-device,drive=vdc",
  ];
}

/** Boots once; kills QEMU at the timeout (and on any error) so nothing outlives the call. */
export function handBoot(i: HandBootInput): Promise<HandBoot> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(i.qemu, handArgs(i), { stdio: ["ignore", "pipe", "pipe"] });
    let seen = "";
    let stderr = "";
    let first: { ms: number; cpu: Promise<number | undefined> } | undefined;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`hand-run QEMU did not ${first ? "exit" : "print " + JSON.stringify(i.marker)} within ${i.timeoutMs} ms; console so far:\n${seen.slice(-2000)}\nstderr: ${stderr.slice(-2000)}`));
    }, i.timeoutMs);
    child.stdout.on("data", (c: Buffer) => {
      if (first) return;
      seen = (seen + c.toString("latin1")).slice(-64 * 1024);
      if (seen.includes(i.marker)) first = { ms: performance.now() - t0, cpu: child.pid === undefined ? Promise.resolve(undefined) : cpuMsOf(child.pid) };
    });
    child.stderr.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-8192)));
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const exitMs = performance.now() - t0;
      if (!first) {
        reject(new Error(`hand-run QEMU ended (${code ?? signal}) before printing ${JSON.stringify(i.marker)}; stderr: ${stderr.slice(-2000)}\nconsole: ${seen.slice(-2000)}`));
        return;
      }
      const { ms, cpu } = first;
      cpu.then((qemuCpuMs) => resolve({ firstOutputMs: ms, qemuCpuMs, exitMs }), reject);
    });
  });
}
