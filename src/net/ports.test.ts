import { test } from "node:test";
import assert from "node:assert/strict";
import { formatPort, parsePortSpec, parsePortSpecs, portsClash } from "./ports.js";

const policy = { defaultAddress: "127.0.0.1", allowPrivileged: false };

test("port specs: defaults, explicit addresses, protocols, IPv6", () => {
  assert.deepEqual(parsePortSpec("8080:80", policy), { hostIp: "127.0.0.1", hostPort: 8080, guestPort: 80, protocol: "tcp" });
  assert.deepEqual(parsePortSpec("0.0.0.0:8080:80/udp", policy), { hostIp: "0.0.0.0", hostPort: 8080, guestPort: 80, protocol: "udp" });
  assert.deepEqual(parsePortSpec("[::1]:5353:53/udp", policy), { hostIp: "::1", hostPort: 5353, guestPort: 53, protocol: "udp" });
  assert.deepEqual(parsePortSpec("9000:9000", { defaultAddress: "0.0.0.0", allowPrivileged: false }).hostIp, "0.0.0.0");
  assert.equal(parsePortSpec("80:80", { ...policy, allowPrivileged: true }).hostPort, 80);
  assert.equal(formatPort(parsePortSpec("[::1]:5353:53/udp", policy)), "[::1]:5353->53/udp");
});

test("every malformed port spec is refused with a clear message", () => {
  const cases: [string, RegExp][] = [
    ["", /empty/],
    ["80", /a host port is required/],
    ["8080:", /guest port must be a number/],
    [":80", /host port must be a number/],
    ["8080:0", /guest port must be a number from 1 to 65535/],
    ["0:80", /host port must be a number/],
    ["65536:80", /host port must be a number from 1 to 65535/],
    ["8080:65536", /guest port/],
    ["08080:80", /host port must be a number/],
    ["8080:80/sctp", /protocol must be tcp or udp/],
    ["8080:80/", /protocol must be tcp or udp/],
    ["8080:80/TCP", /protocol must be tcp or udp/],
    ["8000-8010:80", /port ranges are not supported/],
    ["localhost:8080:80", /"localhost" is not an IPv4 address/],
    ["300.1.1.1:8080:80", /is not an IPv4 address/],
    ["::1:8080:80", /IPv6 host address must be in brackets/],
    ["[::1:8080:80", /must be written \[ADDR\]/],
    ["[1.2.3.4]:8080:80", /is not an IPv6 address/],
    ["1.2.3.4:8080:80:90", /IPv6 host address must be in brackets/],
    ["[::1]:1:2:3", /too many/],
    ["80a:80", /host port must be a number/],
    [" 8080:80", /host port must be a number/],
    ["8".repeat(81), /too long/],
  ];
  for (const [spec, re] of cases) {
    assert.throws(() => parsePortSpec(spec, policy), (e: Error & { code?: string }) => e.code === "invalid_argument" && re.test(e.message), spec);
  }
});

test("a privileged host port needs the operator's permission", () => {
  assert.throws(
    () => parsePortSpec("127.0.0.1:80:80", policy),
    (e: Error & { code?: string }) => e.code === "forbidden" && /host port 80 .* privileged .*allow_privileged_ports/s.test(e.message),
  );
});

test("a list that publishes the same host port twice is refused", () => {
  assert.equal(parsePortSpecs(["8080:80", "8080:80/udp", "127.0.0.2:8080:80"], policy).length, 3);
  assert.throws(() => parsePortSpecs(["8080:80", "8080:81"], policy), /publish host port 127\.0\.0\.1:8080->81\/tcp twice/);
  assert.throws(() => parsePortSpecs(["0.0.0.0:8080:80", "127.0.0.1:8080:81"], policy), /twice/);
  assert.equal(portsClash(parsePortSpec("[::]:9000:1", policy), parsePortSpec("[::1]:9000:2", policy)), true);
});
