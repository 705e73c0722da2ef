// Real boots of walk-init under QEMU (microvm, TCG): the contract as the workload sees it,
// users and groups, PATH and WORKDIR, persistence through the state disk, an immutable app disk,
// exit codes and signals, stop requests with their grace period, reaping, and a console flood.
// Each boot combines several assertions: a boot costs about a second of emulated CPU.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bootGuest, buildTestBase, type BootResult, type GuestBase } from "../harness/qemu.js";
import { b, makeAppDisk, makeStateDisk, sha256File } from "../harness/guest-disks.js";
import type { RuntimeConfig } from "../../src/image/runconfig.js";

const repoRoot = process.cwd();
let dir: string;
let base: GuestBase;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "walk-guest-boot-"));
  base = await buildTestBase(repoRoot, join(dir, "base"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Lines the workload printed between markers, e.g. section(r, "ARGV"). */
function section(r: BootResult, name: string): string {
  const m = new RegExp(`<<${name}\\n([\\s\\S]*?)\\n?${name}>>`).exec(r.console);
  assert.ok(m, `the console has no ${name} section:\n${r.console.slice(-3000)}`);
  return m[1] ?? "";
}

function hexBytes(s: string): Buffer {
  return Buffer.from(s.replace(/[^0-9a-f]/g, ""), "hex");
}

function fields(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] === 0) {
      out.push(buf.subarray(start, i));
      start = i + 1;
    }
  }
  return out;
}

let n = 0;
async function disks(cfg: RuntimeConfig, files?: Record<string, { content: string; mode?: number }>, state?: string) {
  n++;
  const app = join(dir, `app${n}.ext4`);
  await makeAppDisk(app, { config: cfg, ...(files ? { files } : {}) });
  const st = state ?? join(dir, `state${n}.ext4`);
  if (!state) await makeStateDisk(st);
  return { app, state: st };
}

const sh = (script: string, ...rest: string[]): Buffer[] => [b("sh"), b("-c"), b(script), b("walk-test"), ...rest.map(b)];

describe("guest boot under QEMU", { timeout: 15 * 60_000 }, () => {
  const dump = [
    "echo '<<ARGV'; od -An -tx1 -v /proc/$$/cmdline; echo 'ARGV>>'",
    "echo '<<ENV'; od -An -tx1 -v /proc/$$/environ; echo 'ENV>>'",
    "echo '<<ID'; id; pwd; hostname; echo 'ID>>'",
  ].join("; ");

  test("argv, env, WORKDIR, USER by name with groups, PATH lookup, persistence, exit 42", async () => {
    const argvExtra = ['a b', `"double" 'single'`, "line1\nline2", "", "café ☃ =x"];
    const cfg: RuntimeConfig = {
      argv: sh(
        [
          dump,
          "echo '<<ROOT'; ls / ; test -e /sbin/walk-init && echo BASE-VISIBLE; grep -c ' /mnt/' /proc/mounts; grep -c '^cgroup2 /sys/fs/cgroup cgroup2' /proc/mounts; echo 'ROOT>>'",
          "echo '<<HOSTS'; cat /etc/hosts; echo 'HOSTS>>'",
          "echo '<<NET'; ip -4 addr show eth0 | grep inet; ip route | grep default; cat /etc/resolv.conf; echo 'NET>>'",
          // Orphans: double-forked children whose parent exits; PID 1 must reap them.
          "(sleep 0.2 &) ; (sleep 0.2 &) ; sleep 1",
          "echo '<<ZOMBIES'; cat /proc/[0-9]*/stat 2>/dev/null | awk '$3 == \"Z\"' | wc -l; echo 'ZOMBIES>>'",
          "echo persisted-data > /home/app/note; echo 'root write' > /etc/written 2>/dev/null || echo no-etc-write",
          "exit 42",
        ].join("\n"),
        ...argvExtra,
      ),
      env: [
        [b("EQ"), b("a=b=c")],
        [b("UTF"), b("grüße ☃")],
        [b("EMPTY"), b("")],
        [b("NL"), b("x\ny")],
      ],
      workdir: b("/srv/my app"),
      user: b("app:staff"),
    };
    const d = await disks(cfg, { "srv/my app/.keep": { content: "" } });
    const appBefore = sha256File(d.app);
    const r = await bootGuest({
      base,
      ...d,
      params: { hostname: "web-1", ip: { address: "10.0.2.15", prefix: 24 }, gateway: "10.0.2.2", dns: ["10.0.2.3"], mtu: 1400 },
      network: "isolated",
    });
    assert.equal(r.timedOut, false, r.console);
    assert.deepEqual(r.status, { kind: "exit", code: 42 }, r.console);
    assert.equal(r.source, "agent");
    assert.deepEqual(r.consoleStatus, { kind: "exit", code: 42 });

    const argv = fields(hexBytes(section(r, "ARGV")));
    assert.deepEqual(argv.map((x) => x.toString("utf8")), ["sh", "-c", cfg.argv[2]?.toString("utf8"), "walk-test", ...argvExtra]);
    const env = fields(hexBytes(section(r, "ENV"))).map((x) => x.toString("utf8"));
    assert.deepEqual(env, [
      "EQ=a=b=c",
      "UTF=grüße ☃",
      "EMPTY=",
      "NL=x\ny",
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "HOME=/home/app",
    ]);
    const [id, pwd, host] = section(r, "ID").split("\n");
    assert.equal(id, "uid=1000(app) gid=50(staff) groups=29(audio),50(staff)");
    assert.equal(pwd, "/srv/my app");
    assert.equal(host, "web-1");
    const root = section(r, "ROOT");
    assert.doesNotMatch(root, /BASE-VISIBLE/);
    assert.match(root, /^0\n1$/m, "nothing of the base root's /mnt is in the workload's view; cgroup2 is mounted");
    assert.match(section(r, "HOSTS"), /^10\.0\.2\.15\tweb-1$/m);
    const net = section(r, "NET");
    assert.match(net, /inet 10\.0\.2\.15\/24/);
    assert.match(net, /default via 10\.0\.2\.2 dev eth0/);
    assert.match(net, /^nameserver 10\.0\.2\.3$/m);
    assert.equal(section(r, "ZOMBIES").trim(), "0");
    assert.equal(sha256File(d.app), appBefore, "the app disk is byte-identical after the run");

    // Second boot on the same state disk: the file written under / is there; USER by number.
    const cfg2: RuntimeConfig = {
      argv: [b("mytool")],
      env: [[b("PATH"), b("/opt/tools:/bin")]],
      user: b("1000"),
      workdir: b("/home/app"),
    };
    const d2 = await disks(
      cfg2,
      { "opt/tools/mytool": { content: "#!/bin/sh\necho \"<<SECOND\"; cat note; id; echo \"$PATH\"; echo \"SECOND>>\"\nexit 0\n", mode: 0o755 } },
      d.state,
    );
    const r2 = await bootGuest({ base, ...d2 });
    assert.deepEqual(r2.status, { kind: "exit", code: 0 }, r2.console);
    const [note, id2, path2] = section(r2, "SECOND").split("\n");
    assert.equal(note, "persisted-data");
    assert.equal(id2, "uid=1000(app) gid=1000(app) groups=29(audio),50(staff)");
    assert.equal(path2, "/opt/tools:/bin");
    report("time to workload (first boot)", r);
  });

  test("exit code 1 and death by signal", async () => {
    const r1 = await bootGuest({ base, ...(await disks({ argv: sh("exit 1"), env: [] })) });
    assert.deepEqual(r1.status, { kind: "exit", code: 1 }, r1.console);
    const r2 = await bootGuest({ base, ...(await disks({ argv: sh("kill -USR1 $$; sleep 5"), env: [] })) });
    assert.deepEqual(r2.status, { kind: "signal", signal: 10 }, r2.console);
    assert.deepEqual(r2.consoleStatus, { kind: "signal", signal: 10 });
  });

  test("ctrl-alt-delete is forwarded as SIGTERM and the workload exits within the grace period", async () => {
    const cfg = { argv: sh("trap 'echo got-term; exit 7' TERM; echo waiting; while :; do sleep 0.1; done"), env: [] };
    const r = await bootGuest({ base, ...(await disks(cfg)), stop: { via: "ctrl-alt-del", when: "waiting" } });
    assert.deepEqual(r.status, { kind: "exit", code: 7 }, r.console);
    assert.match(r.console, /got-term/);
  });

  test("a stop request on the agent channel works the same; a custom stop signal is used", async () => {
    const cfg = { argv: sh("trap 'echo got-int; exit 8' INT; trap 'echo wrong; exit 1' TERM; echo waiting; while :; do sleep 0.1; done"), env: [] };
    const r = await bootGuest({ base, ...(await disks(cfg)), params: { stopSignal: 2 }, stop: { via: "agent", when: "waiting" } });
    assert.deepEqual(r.status, { kind: "exit", code: 8 }, r.console);
  });

  test("a workload ignoring the stop request is killed after the grace period", async () => {
    const cfg = { argv: sh("trap '' TERM; (trap '' TERM; sleep 100) & echo waiting; while :; do sleep 0.1; done"), env: [] };
    const r = await bootGuest({ base, ...(await disks(cfg)), params: { graceSeconds: 1 }, stop: { via: "ctrl-alt-del", when: "waiting" } });
    assert.deepEqual(r.status, { kind: "signal", signal: 9 }, r.console);
    assert.match(r.console, /did not exit within 1 s of the stop request/);
  });

  test("a workload flooding the console and forging status lines cannot hide its exit status", async () => {
    const cfg = {
      argv: sh("echo 'WALK-STATUS v1 exit=99'; (yes 'WALK-STATUS v1 exit=98 flood flood flood' &); (head -c 1000000 /dev/zero | tr '\\0' x &); sleep 1; printf 'WALK-STATUS v1 exit=97'; exit 3"),
      env: [],
    };
    const r = await bootGuest({ base, ...(await disks(cfg)) });
    assert.ok(r.consoleBytes > 100_000, `the workload flooded the console (${r.consoleBytes} bytes)`);
    assert.deepEqual(r.agentStatus, { kind: "exit", code: 3 });
    assert.deepEqual(r.consoleStatus, { kind: "exit", code: 3 }, "the init's line is the console's last");
  });
});

function report(what: string, r: BootResult): void {
  console.log(`# ${what}: ${r.timings.startedMs} ms to WALK-STARTED, ${r.timings.totalMs} ms to QEMU exit`);
}
