import { test } from "node:test";
import assert from "node:assert/strict";
import { renderTable } from "./nft.js";

const state = {
  pool: "10.231.0.0/16",
  allowedCidrs: ["192.168.50.0/24"],
  machines: [
    { tap: "wkbbbbbbbbbbbb", guestIp: "10.231.0.6", gatewayIp: "10.231.0.5", dns: false },
    { tap: "wkaaaaaaaaaaaa", guestIp: "10.231.0.2", gatewayIp: "10.231.0.1", dns: true },
  ],
};

test("the table replaces itself in one transaction and names only walk's table", () => {
  const text = renderTable(state);
  const lines = text.split("\n");
  assert.deepEqual(lines.slice(1, 4), ["table inet walk {}", "delete table inet walk", "table inet walk {"]);
  for (const l of lines) {
    const m = /\btable\s+(\S+)\s+(\S+)/.exec(l);
    if (m && !l.startsWith("#")) assert.deepEqual([m[1], m[2]], ["inet", "walk"], l);
  }
});

test("sets are rendered from state, sorted, with anti-spoofing and DNS per machine", () => {
  const text = renderTable(state);
  assert.match(text, /set machine_taps \{\n\t\ttype ifname\n\t\telements = \{ "wkaaaaaaaaaaaa", "wkbbbbbbbbbbbb" \}/);
  assert.match(text, /elements = \{ "wkaaaaaaaaaaaa" \. 10\.231\.0\.2, "wkbbbbbbbbbbbb" \. 10\.231\.0\.6 \}/);
  assert.match(text, /set machine_dns \{\n\t\ttype ifname \. ipv4_addr\n\t\telements = \{ "wkaaaaaaaaaaaa" \. 10\.231\.0\.1 \}/);
  assert.match(text, /set allowed4 \{\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = \{ 192\.168\.50\.0\/24 \}/);
  assert.equal(renderTable(state), renderTable({ ...state, machines: [...state.machines].reverse() }));
});

test("machine traffic: spoofing dropped, other machines and metadata refused before the allow list", () => {
  const fwd = /chain from_machine \{\n([\s\S]*?)\n\t\}/.exec(renderTable(state))![1]!.split("\n").map((l) => l.trim());
  const at = (r: string) => fwd.indexOf(r);
  assert.ok(at("iifname . ip saddr != @machine_addrs drop") >= 0);
  assert.ok(at("iifname . ip saddr != @machine_addrs drop") < at("ct state established,related accept"));
  assert.ok(at("ip daddr 10.231.0.0/16 reject with icmpx admin-prohibited") < at("ip daddr @allowed4 accept"));
  assert.ok(at("ip daddr 169.254.169.254 reject with icmpx admin-prohibited") < at("ip daddr @allowed4 accept"));
  assert.ok(at("ip daddr @allowed4 accept") < at("ip daddr @blocked4 reject with icmpx admin-prohibited"));
  assert.equal(fwd.at(-1), "accept");
  assert.ok(at("meta nfproto ipv6 drop") === 0);
});

test("the host is closed to machines except their DNS; masquerade only for machine egress", () => {
  const text = renderTable(state);
  const input = /chain input \{\n([\s\S]*?)\n\t\}/.exec(text)![1]!;
  assert.match(input, /policy accept;\n\t\tiifname != @machine_taps accept\n/);
  assert.match(input, /iifname \. ip daddr @machine_dns udp dport 53 accept\n\t\treject with icmpx admin-prohibited$/);
  assert.match(text, /chain to_machine \{\n\t\tct state established,related accept\n\t\tdrop\n\t\}/);
  assert.match(text, /type nat hook postrouting priority srcnat; policy accept;\n\t\tiifname @machine_taps oifname != @machine_taps masquerade/);
});

test("an empty state renders empty sets without elements", () => {
  const text = renderTable({ pool: "10.231.0.0/16", allowedCidrs: [], machines: [] });
  assert.match(text, /set machine_taps \{\n\t\ttype ifname\n\t\}/);
  assert.doesNotMatch(text, /elements = \{ \}/);
});
