import { test } from "node:test";
import assert from "node:assert/strict";
import { buildImage, buildIndex, buildSampleImage, MediaTypes, sha256 } from "../../test/fixtures/images.js";
import {
  layerCompression,
  MAX_MANIFEST_BYTES,
  parseDescriptor,
  parseDigest,
  parseImageConfig,
  parseManifestOrIndex,
  sniffCompression,
  verifyBytes,
} from "./manifest.js";
import { isWalkError, type ErrorCode } from "../lib/errors.js";

const HEX = "a".repeat(64);

function rejects(fn: () => unknown, code: ErrorCode, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isWalkError(err, code), `expected ${code}, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

void test("parses OCI and Docker schema 2 manifests, OCI indexes and Docker manifest lists", async () => {
  const oci = await buildSampleImage();
  const docker = await buildSampleImage({ format: "docker" });
  const m = parseManifestOrIndex(oci.manifest.data, MediaTypes.ociManifest);
  assert.equal(m.kind, "manifest");
  assert.deepEqual(m.kind === "manifest" && m.manifest, oci.manifestJson);
  const d = parseManifestOrIndex(docker.manifest.data, MediaTypes.dockerManifest);
  assert.equal(d.kind === "manifest" && d.manifest.layers[0]!.mediaType, MediaTypes.dockerLayerGzip);
  const idx = buildIndex([oci]);
  const i = parseManifestOrIndex(idx.manifest.data, MediaTypes.ociIndex);
  assert.equal(i.kind === "index" && i.index.manifests[0]!.digest, oci.digest);
  const list = buildIndex([docker], { format: "docker" });
  const l = parseManifestOrIndex(list.manifest.data, "application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8");
  assert.equal(l.kind === "index" && l.mediaType, MediaTypes.dockerManifestList);
});

void test("a generic served type falls back to the declared media type, then to the document's shape", async () => {
  const img = await buildSampleImage();
  const m = parseManifestOrIndex(img.manifest.data, "application/octet-stream");
  assert.equal(m.mediaType, MediaTypes.ociManifest);
  const { mediaType: _drop, ...bare } = img.manifestJson;
  assert.equal(parseManifestOrIndex(json(bare), "").mediaType, MediaTypes.ociManifest);
  assert.equal(parseManifestOrIndex(json({ schemaVersion: 2, manifests: [] }), "application/json").kind, "index");
  rejects(() => parseManifestOrIndex(json({ schemaVersion: 2 }), ""), "invalid_argument", /neither a manifest nor an index/);
});

void test("unknown manifest, layer and config media types are unsupported and named", async () => {
  const img = await buildSampleImage();
  rejects(() => parseManifestOrIndex(img.manifest.data, "application/vnd.example.thing+json"), "unsupported", /application\/vnd\.example\.thing\+json/);
  const odd = await buildImage({ layers: [{ entries: [], mediaType: "application/vnd.example.layer" }] });
  rejects(() => parseManifestOrIndex(odd.manifest.data, MediaTypes.ociManifest), "unsupported", new RegExp(`layer 0 \\(${odd.layers[0]!.digest}\\).*application/vnd\\.example\\.layer`));
  const helm = { ...img.manifestJson, config: { ...img.manifestJson.config, mediaType: "application/vnd.cncf.helm.config.v1+json" } };
  rejects(() => parseManifestOrIndex(json(helm), MediaTypes.ociManifest), "unsupported", /config media type "application\/vnd\.cncf\.helm\.config\.v1\+json"/);
  rejects(() => parseManifestOrIndex(json({ schemaVersion: 1 }), "application/vnd.docker.distribution.manifest.v1+prettyjws"), "unsupported", /schema 1/);
});

void test("a document that declares another media type than it was served as is refused", async () => {
  const img = await buildSampleImage();
  rejects(() => parseManifestOrIndex(img.manifest.data, MediaTypes.ociIndex), "invalid_argument", /served as application\/vnd\.oci\.image\.index\.v1\+json but declares mediaType application\/vnd\.oci\.image\.manifest\.v1\+json/);
});

void test("a manifest over the size bound is refused before parsing", () => {
  const big = Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x20);
  rejects(() => parseManifestOrIndex(big, MediaTypes.ociManifest), "size_exceeded", /limit of 4194304/);
});

void test("malformed JSON and wrong schema versions are invalid", () => {
  rejects(() => parseManifestOrIndex(Buffer.from("{"), MediaTypes.ociManifest), "invalid_argument", /not valid JSON/);
  rejects(() => parseManifestOrIndex(Buffer.from("[]"), MediaTypes.ociManifest), "invalid_argument", /JSON object/);
  rejects(() => parseManifestOrIndex(json({ schemaVersion: 3, mediaType: MediaTypes.ociIndex, manifests: [] }), MediaTypes.ociIndex), "invalid_argument", /schemaVersion must be 2/);
  rejects(() => parseManifestOrIndex(json({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: {}, layers: [] }), MediaTypes.ociManifest), "invalid_argument", /config: "mediaType" is missing/);
});

void test("descriptors: digest grammar, sha256 only, non-negative safe-integer sizes", () => {
  const ok = { mediaType: MediaTypes.ociLayerGzip, digest: `sha256:${HEX}`, size: 3, annotations: { a: "b" } };
  assert.deepEqual(parseDescriptor(ok, "layer"), ok);
  rejects(() => parseDescriptor({ ...ok, digest: `sha512:${"a".repeat(128)}` }, "layer"), "unsupported", /algorithm sha512; walk supports only sha256/);
  rejects(() => parseDescriptor({ ...ok, digest: "sha256:ABC" }, "layer"), "invalid_argument", /not a valid sha256 digest/);
  rejects(() => parseDescriptor({ ...ok, digest: "nocolon" }, "layer"), "invalid_argument", /not a valid digest/);
  rejects(() => parseDescriptor({ ...ok, digest: `sha256:${"A".repeat(64)}` }, "layer"), "invalid_argument", /lowercase/);
  rejects(() => parseDescriptor({ ...ok, size: -1 }, "layer"), "invalid_argument", /size -1 must be a non-negative integer/);
  rejects(() => parseDescriptor({ ...ok, size: 1.5 }, "layer"), "invalid_argument", /size 1.5/);
  rejects(() => parseDescriptor({ ...ok, size: 2 ** 60 }, "layer"), "invalid_argument", /must be a non-negative integer/);
  rejects(() => parseDescriptor({ ...ok, size: "3" }, "layer"), "invalid_argument", /size "3"/);
  rejects(() => parseDescriptor({ ...ok, annotations: { a: 1 } }, "layer"), "invalid_argument", /annotations/);
  assert.equal(parseDigest(`sha256:${HEX}`).hex, HEX);
});

void test("image config: rootfs.diff_ids must match the layer count and be digests", async () => {
  const img = await buildSampleImage();
  const cfg = parseImageConfig(img.config.data, 2);
  assert.deepEqual(cfg.config?.Entrypoint, ["/usr/bin/app"]);
  assert.deepEqual(cfg.rootfs.diff_ids, img.configJson.rootfs.diff_ids);
  rejects(() => parseImageConfig(img.config.data, 3), "invalid_argument", /lists 2 rootfs.diff_ids but the manifest has 3 layers/);
  rejects(() => parseImageConfig(json({ ...img.configJson, rootfs: { type: "layers", diff_ids: ["x"] } }), 1), "invalid_argument", /diff_ids\[0\]/);
  rejects(() => parseImageConfig(json({ ...img.configJson, rootfs: { type: "other", diff_ids: [] } }), 0), "invalid_argument", /rootfs.type/);
  rejects(() => parseImageConfig(json({ ...img.configJson, os: undefined }), 2), "invalid_argument", /"os" is missing/);
  rejects(() => parseImageConfig(json({ ...img.configJson, config: { Env: "PATH=/bin" } }), 2), "invalid_argument", /config section Env: must be an array of strings/);
});

void test("layer media types map to their compression; sniffing reads magic bytes", () => {
  assert.equal(layerCompression(MediaTypes.ociLayer), "none");
  assert.equal(layerCompression(MediaTypes.ociLayerGzip), "gzip");
  assert.equal(layerCompression(MediaTypes.ociLayerZstd), "zstd");
  assert.equal(layerCompression("application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"), "zstd");
  assert.equal(layerCompression(MediaTypes.dockerLayerGzip), "gzip");
  assert.equal(layerCompression("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"), "gzip");
  rejects(() => layerCompression("application/vnd.oci.image.layer.v1.tar+lz4"), "unsupported", /tar\+lz4/);
  assert.equal(sniffCompression(Buffer.from([0x1f, 0x8b, 8])), "gzip");
  assert.equal(sniffCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), "zstd");
  assert.equal(sniffCompression(Buffer.from("ustar")), "none");
});

void test("verifyBytes names the blob and tells truncated, oversized and mismatching apart", () => {
  const data = Buffer.from("hello");
  const desc = { digest: sha256(data), size: 5 };
  verifyBytes(data, desc, "config");
  rejects(() => verifyBytes(Buffer.from("hello!"), desc, "config"), "size_exceeded", new RegExp(`config ${desc.digest} is 6 bytes, larger than the 5 declared`));
  rejects(() => verifyBytes(Buffer.from("hell"), desc, "config"), "digest_mismatch", /truncated: 4 of 5/);
  rejects(() => verifyBytes(Buffer.from("jello"), desc, "config"), "digest_mismatch", /does not match its content/);
});
