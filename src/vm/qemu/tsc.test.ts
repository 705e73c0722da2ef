// The host TSC frequency from fake /sys and /proc files: the exact value first, the nominal
// "cpu MHz" as the fallback, and a clear `unavailable` when neither tells.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isWalkError } from "../../lib/index.js";
import { hostTscKhz } from "./tsc.js";

test("tsc_freq_khz wins; else /proc/cpuinfo's cpu MHz; else `unavailable` naming both files", async () => {
  const dir = await mkdtemp(join(tmpdir(), "walk-tsc-"));
  const tscFreqKhz = join(dir, "tsc_freq_khz");
  const cpuinfo = join(dir, "cpuinfo");
  await writeFile(cpuinfo, "processor\t: 0\nmodel name\t: Fake CPU\ncpu MHz\t\t: 2599.998\ncache size\t: 1 KB\n");
  assert.equal(hostTscKhz({ tscFreqKhz, cpuinfo }), 2_599_998, "no sysfs file: the nominal frequency");
  await writeFile(tscFreqKhz, "2100000\n");
  assert.equal(hostTscKhz({ tscFreqKhz, cpuinfo }), 2_100_000);
  await writeFile(tscFreqKhz, "garbage\n");
  assert.equal(hostTscKhz({ tscFreqKhz, cpuinfo }), 2_599_998, "an unreadable value falls back");
  await writeFile(cpuinfo, "processor\t: 0\ncpu MHz\t\t: 0.000\n");
  assert.throws(
    () => hostTscKhz({ tscFreqKhz, cpuinfo }),
    (e: unknown) => isWalkError(e, "unavailable") && e.message.includes(tscFreqKhz) && e.message.includes(cpuinfo),
  );
  assert.throws(() => hostTscKhz({ tscFreqKhz, cpuinfo: join(dir, "missing") }), (e: unknown) => isWalkError(e, "unavailable"));
  await rm(dir, { recursive: true, force: true });
});
