import { test } from "node:test";
import assert from "node:assert/strict";
import { formatReference, parseReference, registryApiHost, type ImageReference } from "./reference.js";
import { isWalkError } from "../lib/errors.js";

const D = `sha256:${"a".repeat(64)}`;

test("docker-style names normalise to canonical registry references", () => {
  const cases: [string, string][] = [
    ["nginx", "docker.io/library/nginx:latest"],
    ["nginx:1.25", "docker.io/library/nginx:1.25"],
    ["user/app:tag", "docker.io/user/app:tag"],
    ["docker.io/nginx", "docker.io/library/nginx:latest"],
    ["index.docker.io/library/nginx:x", "docker.io/library/nginx:x"],
    [`ghcr.io/o/r@${D}`, `ghcr.io/o/r@${D}`],
    ["localhost:5000/x", "localhost:5000/x:latest"],
    ["localhost/x", "localhost/x:latest"],
    ["127.0.0.1:5000/x:tag", "127.0.0.1:5000/x:tag"],
    [`quay.io/a/b/c:v1@${D}`, `quay.io/a/b/c:v1@${D}`],
    ["[::1]:5000/x", "[::1]:5000/x:latest"],
    ["docker://busybox", "docker.io/library/busybox:latest"],
    ["my_co/a__b.c-d---e:_T.1-x", "docker.io/my_co/a__b.c-d---e:_T.1-x"],
  ];
  for (const [input, canonical] of cases) {
    assert.equal(formatReference(parseReference(input)), canonical, input);
  }
});

test("parsed fields: registry, repository, tag and digest", () => {
  assert.deepEqual(parseReference(`name:tag@${D}`), { kind: "registry", registry: "docker.io", repository: "library/name", tag: "tag", digest: D });
  assert.deepEqual(parseReference(`r.io/x@${D}`), { kind: "registry", registry: "r.io", repository: "x", digest: D });
  assert.deepEqual(parseReference("Upper:5/x"), { kind: "registry", registry: "Upper:5", repository: "x", tag: "latest" });
});

test("Docker Hub's API host differs from its canonical name", () => {
  assert.equal(registryApiHost("docker.io"), "registry-1.docker.io");
  assert.equal(registryApiHost("ghcr.io"), "ghcr.io");
  assert.equal(registryApiHost("localhost:5000"), "localhost:5000");
});

test("local transports: oci layout with and without a tag, docker-archive", () => {
  const cases: [string, ImageReference][] = [
    ["oci:/tmp/layout", { kind: "oci-layout", path: "/tmp/layout" }],
    ["oci:/tmp/layout:v1.0", { kind: "oci-layout", path: "/tmp/layout", tag: "v1.0" }],
    ["oci:./rel:org/app:1", { kind: "oci-layout", path: "./rel", tag: "org/app:1" }],
    ["docker-archive:/tmp/a.tar", { kind: "docker-archive", path: "/tmp/a.tar" }],
    ["docker-archive:/tmp/a.tar:app:1", { kind: "docker-archive", path: "/tmp/a.tar", image: "app:1" }],
    ["docker-archive:/tmp/a.tar:@1", { kind: "docker-archive", path: "/tmp/a.tar", image: "@1" }],
  ];
  for (const [input, want] of cases) {
    const ref = parseReference(input);
    assert.deepEqual(ref, want, input);
    assert.equal(formatReference(ref), input);
  }
});

test("invalid references are invalid_argument errors naming the reference", () => {
  const bad: [string, RegExp][] = [
    ["", /empty/],
    ["Nginx", /lowercase/],
    ["docker.io/Library/nginx", /lowercase/],
    ["ghcr.io/o/R", /lowercase/],
    ["a//b", /repository component ""/],
    ["a/-b", /repository component "-b"/],
    ["a/b_", /repository component "b_"/],
    ["nginx:", /tag ""/],
    ["nginx:-x", /tag "-x"/],
    [`nginx:${"t".repeat(129)}`, /tag/],
    ["nginx@sha256:abc", /sha256/],
    [`nginx@sha256:${"A".repeat(64)}`, /sha256/],
    ["nginx@", /digest/],
    ["host:99999/x", /port 99999/],
    ["bad_host.io/x", /registry host/],
    ["localhost:5000/", /repository name is empty/],
    [`r.io/${"a".repeat(260)}`, /longer than 255/],
    ["oci:", /oci: needs a path/],
    ["oci:/p:", /not a valid OCI layout reference name/],
    ["oci:/p:a b", /not a valid OCI layout reference name/],
    ["docker-archive:", /docker-archive: needs a path/],
    ["docker-archive:/tmp/a.tar:", /image to select after the path is empty/],
    ["docker-archive:/tmp/a.tar:Bad:Name", /invalid image reference/],
  ];
  for (const [input, why] of bad) {
    assert.throws(() => parseReference(input), (err: unknown) => {
      assert.ok(isWalkError(err, "invalid_argument"), `${input}: ${String(err)}`);
      assert.ok(err.message.includes(JSON.stringify(input)), err.message);
      assert.match(err.message, why, input);
      return true;
    });
  }
});

test("a digest algorithm walk cannot verify is unsupported, naming the reference", () => {
  assert.throws(() => parseReference(`x@sha512:${"a".repeat(128)}`), (err: unknown) => isWalkError(err, "unsupported") && err.message.includes("x@sha512"));
});
