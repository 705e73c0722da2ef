// walkd's config: the [network] table, the machines' default network mode and refresh bound.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_NET_CONFIG } from "../net/index.js";
import { loadConfig } from "./config.js";

function withConfig(toml: string): ReturnType<typeof loadConfig> {
  const dir = mkdtempSync(join(tmpdir(), "walk-config-"));
  try {
    writeFileSync(join(dir, "walkd.toml"), toml);
    return loadConfig({ flags: { config: join(dir, "walkd.toml") }, env: {} });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("without a [network] table machines get the default network and walk's default pool", () => {
  const c = withConfig("");
  assert.equal(c.machines.defaultNetwork, "default");
  assert.deepEqual(c.network, DEFAULT_NET_CONFIG);
});

test("[network] and [machines] network are read and validated", () => {
  const c = withConfig('[machines]\nnetwork = "none"\n[network]\npool = "10.50.0.0/24"\nmtu = 1400\npublish_default_address = "0.0.0.0"\n');
  assert.equal(c.machines.defaultNetwork, "none");
  assert.deepEqual([c.network.pool, c.network.mtu, c.network.publishDefaultAddress], ["10.50.0.0/24", 1400, "0.0.0.0"]);
  assert.throws(() => withConfig('[machines]\nnetwork = "bridge"\n'), /machines\.network must be one of default, none, got "bridge"/);
  assert.throws(() => withConfig('[network]\npool = "10.50.0.0/31"\n'), /network\.pool 10\.50\.0\.0\/31 is too small/);
  assert.throws(() => withConfig("[network]\nports = 1\n"), /network\.ports is not a known setting/);
});

test("the jailer's --netns follows network.netns unless [firecracker] netns is set", () => {
  const jail = '[firecracker]\njailer = "/usr/local/bin/jailer"\n';
  const net = '[network]\nnetns = "walk"\ndns = "none"\n';
  assert.equal(withConfig(jail + net).machines.backends.firecracker.jailer?.netns, "/var/run/netns/walk");
  assert.equal(withConfig(jail + 'netns = "/run/netns/other"\n' + net).machines.backends.firecracker.jailer?.netns, "/run/netns/other");
  assert.equal(withConfig(jail).machines.backends.firecracker.jailer?.netns, undefined);
});

test("machines.refresh_timeout_ms bounds a restored guest's refresh: 3000 by default, 100 to 60000", () => {
  assert.equal(withConfig("").machines.refreshTimeoutMs, 3000);
  assert.equal(withConfig("[machines]\nrefresh_timeout_ms = 10000\n").machines.refreshTimeoutMs, 10_000);
  assert.throws(() => withConfig("[machines]\nrefresh_timeout_ms = 99\n"), /machines\.refresh_timeout_ms/);
  assert.throws(() => withConfig("[machines]\nrefresh_timeout_ms = 60001\n"), /machines\.refresh_timeout_ms/);
  assert.throws(() => withConfig('[machines]\nrefresh_timeout_ms = "3s"\n'), /machines\.refresh_timeout_ms/);
});
