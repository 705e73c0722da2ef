import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_NET_CONFIG, parseNetConfig } from "./config.js";
import { parseCidr4 } from "./cidr.js";

const code = (c: string) => (e: Error & { code?: string }) => e.code === c;

test("no [network] table gives the defaults", () => {
  assert.deepEqual(parseNetConfig(undefined), DEFAULT_NET_CONFIG);
  assert.deepEqual(parseNetConfig({}), DEFAULT_NET_CONFIG);
});

test("every knob is read", () => {
  const c = parseNetConfig({
    pool: "10.50.0.0/24",
    mtu: 1400,
    dns: "static",
    dns_servers: ["9.9.9.9"],
    allowed_cidrs: ["192.168.7.0/24"],
    publish_default_address: "0.0.0.0",
    allow_privileged_ports: true,
    tap_uid: 123,
    tap_gid: 456,
    netns: "walk",
  });
  assert.deepEqual(c, {
    pool: "10.50.0.0/24",
    mtu: 1400,
    dns: { mode: "static", servers: ["9.9.9.9"] },
    allowedCidrs: ["192.168.7.0/24"],
    publishDefaultAddress: "0.0.0.0",
    allowPrivilegedPorts: true,
    tapOwner: { uid: 123, gid: 456 },
    netns: "walk",
  });
});

test("bad settings are refused naming the setting", () => {
  const cases: [unknown, RegExp][] = [
    [{ pool: "10.0.0.0/31" }, /network\.pool .* too small/],
    [{ pool: "10.0.0.1/16" }, /host bits set; did you mean 10\.0\.0\.0\/16/],
    [{ pool: "10.0.0.0/33" }, /network\.pool must be an IPv4 CIDR/],
    [{ pool: "010.0.0.0/16" }, /network\.pool must be an IPv4 CIDR/],
    [{ pool: "0.0.0.0/4" }, /too large/],
    [{ mtu: 100 }, /network\.mtu must be an integer/],
    [{ mtu: "1500" }, /network\.mtu must be an integer/],
    [{ dns: "magic" }, /network\.dns must be "forward", "static" or "none"/],
    [{ dns: "static" }, /network\.dns_servers must list 1 to 3 servers/],
    [{ dns: "static", dns_servers: ["::1"] }, /is not an IPv4 address/],
    [{ dns_upstreams: ["1.2.3.4:99999"] }, /network\.dns_upstreams entry/],
    [{ allowed_cidrs: ["nope"] }, /allowed_cidrs entry must be an IPv4 CIDR/],
    [{ allowed_cidrs: "10.0.0.0/8" }, /must be a list of strings/],
    [{ publish_default_address: "localhost" }, /publish_default_address must be an IP address/],
    [{ allow_privileged_ports: "yes" }, /must be true or false/],
    [{ tap_uid: 5 }, /tap_uid and network\.tap_gid must be set together/],
    [{ netns: "a/b", dns: "none" }, /network\.netns must be a network namespace name/],
    [{ netns: "walk" }, /"forward" needs walkd in the namespace of the taps/],
    [{ pol: "x" }, /network\.pol is not a known setting/],
    ["x", /must be a table/],
  ];
  for (const [raw, re] of cases) assert.throws(() => parseNetConfig(raw), (e: Error & { code?: string }) => e.code === "invalid_argument" && re.test(e.message), JSON.stringify(raw));
});

test("CIDRs parse strictly", () => {
  assert.deepEqual(parseCidr4("10.231.0.0/16", "x"), { base: 0x0ae70000, prefix: 16 });
  assert.deepEqual(parseCidr4("1.2.3.4", "x"), { base: 0x01020304, prefix: 32 });
  for (const bad of ["1.2.3/8", "1.2.3.4/", "1.2.3.4/08", "256.0.0.0/8", "a.b.c.d/8", " 1.2.3.4"]) assert.throws(() => parseCidr4(bad, "x"), code("invalid_argument"), bad);
});
