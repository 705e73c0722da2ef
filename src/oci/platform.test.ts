import { test } from "node:test";
import assert from "node:assert/strict";
import { formatPlatform, hostPlatform, normalizePlatform, parsePlatform, platformMatches, selectPlatform } from "./platform.js";
import { isWalkError } from "../lib/errors.js";
import type { Descriptor, ImageIndex, Platform } from "./types.js";
import { MediaType } from "./manifest.js";

void test("the host platform is linux with the OCI name of process.arch", () => {
  const p = hostPlatform();
  assert.equal(p.os, "linux");
  const expected: Record<string, string> = { x64: "amd64", arm64: "arm64", ia32: "386" };
  if (expected[process.arch]) assert.equal(p.architecture, expected[process.arch]);
  if (p.architecture === "arm64") assert.equal(p.variant, "v8");
});

void test("parsePlatform accepts os/arch[/variant] and normalises aliases", () => {
  assert.deepEqual(parsePlatform("linux/amd64"), { os: "linux", architecture: "amd64" });
  assert.deepEqual(parsePlatform("linux/x86_64"), { os: "linux", architecture: "amd64" });
  assert.deepEqual(parsePlatform("linux/amd64/v1"), { os: "linux", architecture: "amd64" });
  assert.deepEqual(parsePlatform("linux/amd64/v3"), { os: "linux", architecture: "amd64", variant: "v3" });
  assert.deepEqual(parsePlatform("Linux/AArch64"), { os: "linux", architecture: "arm64", variant: "v8" });
  assert.deepEqual(parsePlatform("linux/arm64/8"), { os: "linux", architecture: "arm64", variant: "v8" });
  assert.deepEqual(parsePlatform("linux/arm"), { os: "linux", architecture: "arm", variant: "v7" });
  assert.deepEqual(parsePlatform("linux/armhf"), { os: "linux", architecture: "arm", variant: "v7" });
  assert.deepEqual(parsePlatform("linux/arm/6"), { os: "linux", architecture: "arm", variant: "v6" });
  assert.deepEqual(parsePlatform("linux/i386"), { os: "linux", architecture: "386" });
});

void test("parsePlatform rejects malformed platforms with an example of a good one", () => {
  for (const bad of ["linux", "linux/", "/amd64", "linux/amd64/v8/x", "linux/am d64", "linux/../amd64", ""]) {
    assert.throws(() => parsePlatform(bad), (err: unknown) => isWalkError(err, "invalid_argument") && /expected os\/arch or os\/arch\/variant, e\.g\. linux\/amd64/.test(err.message), bad);
  }
});

void test("matching: arm64 variant defaults to v8, amd64 v1 equals no variant, newer variants run older ones", () => {
  const p = (s: string): Platform => {
    const [os, architecture, variant] = s.split("/") as [string, string, string?];
    return variant ? { os, architecture, variant } : { os, architecture };
  };
  assert.ok(platformMatches(p("linux/arm64/v8"), p("linux/arm64")));
  assert.ok(platformMatches(p("linux/arm64"), p("linux/arm64/v8")));
  assert.ok(platformMatches(p("linux/amd64"), p("linux/amd64/v1")));
  assert.ok(platformMatches(p("linux/amd64/v3"), p("linux/amd64")));
  assert.ok(!platformMatches(p("linux/amd64"), p("linux/amd64/v3")));
  assert.ok(platformMatches(p("linux/arm/v7"), p("linux/arm/v6")));
  assert.ok(!platformMatches(p("linux/arm/v6"), p("linux/arm/v7")));
  assert.ok(!platformMatches(p("linux/amd64"), p("windows/amd64")));
  assert.ok(!platformMatches(p("linux/amd64"), p("linux/arm64")));
  assert.equal(formatPlatform(normalizePlatform(p("linux/aarch64"))), "linux/arm64/v8");
});

function entry(platform: Platform | undefined, n: number, mediaType: string = MediaType.ociManifest): Descriptor {
  const d: Descriptor = { mediaType, digest: `sha256:${n.toString(16).padStart(64, "0")}`, size: 100 };
  if (platform) d.platform = platform;
  return d;
}

const index = (manifests: Descriptor[]): ImageIndex => ({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests });

void test("selectPlatform picks the best entry and prefers the host's own variant", () => {
  const idx = index([
    entry({ os: "linux", architecture: "amd64" }, 1),
    entry({ os: "linux", architecture: "amd64", variant: "v3" }, 2),
    entry({ os: "linux", architecture: "arm64" }, 3),
    entry({ os: "unknown", architecture: "unknown" }, 4),
  ]);
  assert.equal(selectPlatform(idx, { os: "linux", architecture: "amd64" }, "img").digest, entry(undefined, 1).digest);
  assert.equal(selectPlatform(idx, { os: "linux", architecture: "amd64", variant: "v3" }, "img").digest, entry(undefined, 2).digest);
  assert.equal(selectPlatform(idx, { os: "linux", architecture: "amd64", variant: "v2" }, "img").digest, entry(undefined, 1).digest);
  assert.equal(selectPlatform(idx, parsePlatform("linux/arm64/v8"), "img").digest, entry(undefined, 3).digest);
});

void test("no matching platform is not_found and lists the available platforms (attestations left out)", () => {
  const idx = index([
    entry({ os: "linux", architecture: "amd64" }, 1),
    entry({ os: "linux", architecture: "arm64", variant: "v8" }, 2),
    entry({ os: "unknown", architecture: "unknown" }, 3),
  ]);
  assert.throws(
    () => selectPlatform(idx, parsePlatform("linux/s390x"), "docker.io/library/x:1"),
    (err: unknown) => {
      assert.ok(isWalkError(err, "not_found"));
      assert.equal(err.message, "docker.io/library/x:1 has no image for platform linux/s390x; available: linux/amd64, linux/arm64/v8");
      assert.deepEqual(err.details?.available, ["linux/amd64", "linux/arm64/v8"]);
      return true;
    },
  );
  assert.throws(() => selectPlatform(index([]), parsePlatform("linux/amd64"), "x"), /available: none/);
});

void test("a matching entry with an unsupported media type is named rather than skipped silently", () => {
  const idx = index([entry({ os: "linux", architecture: "amd64" }, 1, "application/vnd.example+json")]);
  assert.throws(() => selectPlatform(idx, parsePlatform("linux/amd64"), "img"), (err: unknown) => isWalkError(err, "unsupported") && /application\/vnd\.example\+json/.test(err.message));
});
