// The QEMU command line of a walk microVM (`-M microvm,acpi=off`, virtio-mmio devices) as the
// test harness builds it. Builds argv only: it must not spawn QEMU.
import { WalkError } from "../lib/errors.js";

export interface QemuSpec {
  /** vmlinux (PVH ELF) or bzImage. */
  kernel: string;
  /** Full kernel command line (guestCmdline()). */
  cmdline: string;
  /** vda, read-only. */
  rootfs: string;
  /** vdb, read-only. */
  app: string;
  /** vdc, read-write. */
  state: string;
  memoryMiB?: number;
  cpus?: number;
  accel?: "tcg" | "kvm";
  /** The serial console goes to this file (created or truncated). */
  consoleLog: string;
  /** Unix socket the host listens on; QEMU connects and exposes it as port "walk.agent". */
  agentSocket?: string;
  /** QMP server socket QEMU creates (for send-key ctrl-alt-delete and quit). */
  qmpSocket?: string;
  /** A -netdev value made by the host (e.g. "tap,id=net0,ifname=wk...,script=no,downscript=no"); id must be net0. */
  netdev?: string;
  mac?: string;
}

function plainPath(what: string, p: string): string {
  // QEMU splits option values on commas; a path with one would silently mean something else.
  if (p.includes(",") || p.length === 0) throw new WalkError("invalid_argument", `${what} path ${JSON.stringify(p)} cannot contain a comma`);
  return p;
}

export function qemuArgs(s: QemuSpec): string[] {
  const drive = (id: string, file: string, ro: boolean): string[] => [
    "-drive",
    `id=${id},file=${plainPath(id, file)},format=raw,if=none${ro ? ",readonly=on" : ""}`,
    "-device",
    `virtio-blk-device,drive=${id}`,
  ];
  const args = [
    "-M", "microvm,acpi=off",
    "-accel", s.accel ?? "tcg",
    "-cpu", s.accel === "kvm" ? "host" : "max",
    "-m", String(s.memoryMiB ?? 256),
    "-smp", String(s.cpus ?? 1),
    "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
    "-kernel", plainPath("kernel", s.kernel),
    "-append", s.cmdline,
    "-serial", `file:${plainPath("console log", s.consoleLog)}`,
    // An i8042 so ctrl-alt-delete reaches the guest as it does on Firecracker.
    "-device", "i8042",
    ...drive("vda", s.rootfs, true),
    ...drive("vdb", s.app, true),
    ...drive("vdc", s.state, false),
  ];
  if (s.agentSocket !== undefined) {
    args.push(
      "-chardev", `socket,id=agent,path=${plainPath("agent socket", s.agentSocket)}`,
      "-device", "virtio-serial-device,id=vser0",
      "-device", "virtserialport,bus=vser0.0,chardev=agent,name=walk.agent",
    );
  }
  if (s.qmpSocket !== undefined) args.push("-qmp", `unix:${plainPath("QMP socket", s.qmpSocket)},server=on,wait=off`);
  if (s.netdev !== undefined) {
    args.push("-netdev", s.netdev, "-device", `virtio-net-device,netdev=net0${s.mac ? `,mac=${s.mac}` : ""}`);
  }
  return args;
}
