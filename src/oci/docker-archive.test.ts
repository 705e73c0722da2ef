import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { blobsOf, buildImage, buildSampleImage, buildTar, MediaTypes, sha256, writeDockerArchive, type BuiltImage, type TarEntry } from "../../test/fixtures/images.js";
import { openDockerArchive } from "./docker-archive.js";
import { resolveImage } from "./resolve.js";
import { parsePlatform } from "./platform.js";
import { pullImage } from "../image/pull.js";
import { BlobStore } from "../image/store/index.js";
import { execChecked } from "../lib/exec.js";
import { isWalkError, type ErrorCode } from "../lib/errors.js";

let dir: string;
let img: BuiltImage;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "walk-archive-"));
  img = await buildSampleImage({ format: "docker" });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const amd64 = parsePlatform("linux/amd64");
let n = 0;
const fresh = (ext = ".tar"): string => join(dir, `a${n++}${ext}`);

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isWalkError(err, code), `expected ${code}, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

async function skopeoRaw(ref: string): Promise<Buffer> {
  return Buffer.from((await execChecked("skopeo", ["inspect", "--raw", ref])).stdout);
}

/** A legacy archive whose layers are given as files (so a test can gzip them or link them). */
function legacyTar(image: BuiltImage, layerFiles: TarEntry[], layerPaths: string[], repoTags: string[] = ["app:1"]): Buffer {
  const config = `${image.config.digest.slice(7)}.json`;
  return buildTar([
    ...layerFiles,
    { type: "file", path: config, content: image.config.data },
    { type: "file", path: "manifest.json", content: JSON.stringify([{ Config: config, RepoTags: repoTags, Layers: layerPaths }]) },
  ]);
}

void test("a legacy docker save archive gives skopeo's manifest byte for byte, and pulls verified", async () => {
  const p = fresh();
  await writeDockerArchive(p, img, ["example.com/app:1", "app:latest"]);
  const src = await openDockerArchive(p);
  const r = await resolveImage(src, amd64);
  assert.deepEqual(r.manifest.bytes, await skopeoRaw(`docker-archive:${p}`));
  assert.deepEqual(r.layers.map((l) => l.digest), img.configJson.rootfs.diff_ids);
  assert.equal(r.manifest.parsed.config.digest, img.config.digest);
  const store = await BlobStore.open(fresh("-store"));
  const pulled = await pullImage({ source: src, store, platform: amd64 });
  for (const b of pulled.blobs) await store.verify(b.digest);
  assert.deepEqual(await store.readBounded(img.configJson.rootfs.diff_ids[0]!, 1 << 20), img.layers[0]!.tar);
  await src.close();
});

void test("REF selects by RepoTags the way docker names images; a wrong REF lists the tags", async () => {
  const p = fresh();
  await writeDockerArchive(p, img, ["example.com/app:1", "app:latest"]);
  for (const ref of ["app", "docker.io/library/app:latest", "example.com/app:1", "@0"]) {
    const s = await openDockerArchive(p, ref);
    assert.equal((await resolveImage(s, amd64)).manifest.parsed.config.digest, img.config.digest, ref);
    await s.close();
  }
  await rejectsWith(openDockerArchive(p, "app:2"), "not_found", /has no image tagged app:2; it has: example.com\/app:1, app:latest/);
  await rejectsWith(openDockerArchive(p, "@3"), "not_found", /no image at index 3/);
  await rejectsWith(openDockerArchive(p, "Not Valid"), "invalid_argument", /not a valid image reference/);
});

void test("gzip layer files are served decompressed under their diff_id, as skopeo does", async () => {
  const layers = img.layers.map((l, i) => ({ type: "file" as const, path: `l${i}/layer.tar`, content: gzipSync(l.tar) }));
  const p = fresh();
  await writeFile(p, legacyTar(img, layers, layers.map((l) => l.path)));
  const src = await openDockerArchive(p);
  const r = await resolveImage(src, amd64);
  assert.deepEqual(r.manifest.bytes, await skopeoRaw(`docker-archive:${p}`));
  assert.deepEqual(r.layers.map((l) => l.size), img.layers.map((l) => l.tar.length));
  const store = await BlobStore.open(fresh("-store"));
  await pullImage({ source: src, store, platform: amd64 });
  assert.deepEqual(await store.readBounded(img.layers[1]!.diffId, 1 << 20), img.layers[1]!.tar);
  await src.close();
});

void test("layers linked to other members (docker's duplicate-layer symlinks) are followed inside the archive only", async () => {
  const same = await buildImage({ format: "docker", layers: [img.layers[0]!, img.layers[0]!] });
  const p = fresh();
  await writeFile(p, legacyTar(same, [{ type: "file", path: "a/layer.tar", content: img.layers[0]!.tar }, { type: "symlink", path: "b/layer.tar", target: "../a/layer.tar" }], ["a/layer.tar", "b/layer.tar"]));
  const store = await BlobStore.open(fresh("-store"));
  const src = await openDockerArchive(p);
  const r = await pullImage({ source: src, store, platform: amd64 });
  assert.deepEqual(r.image.manifest.bytes, await skopeoRaw(`docker-archive:${p}`));
  await src.close();
  const q = fresh();
  await writeFile(q, legacyTar(img, [{ type: "symlink", path: "a/layer.tar", target: "../../../etc/passwd" }, { type: "file", path: "b/layer.tar", content: img.layers[1]!.tar }], ["a/layer.tar", "b/layer.tar"]));
  await rejectsWith(openDockerArchive(q), "invalid_argument", /a\/layer.tar links outside the archive/);
});

void test("a layer that does not match its diff_id fails the pull and is not stored", async () => {
  const bad = Buffer.from(img.layers[0]!.tar);
  bad.writeUInt8(bad.readUInt8(600) ^ 1, 600);
  const p = fresh();
  await writeFile(p, legacyTar(img, [{ type: "file", path: "a.tar", content: bad }, { type: "file", path: "b.tar", content: img.layers[1]!.tar }], ["a.tar", "b.tar"]));
  const store = await BlobStore.open(fresh("-store"));
  await rejectsWith(pullImage({ source: await openDockerArchive(p), store, platform: amd64 }), "digest_mismatch", new RegExp(`blob ${img.layers[0]!.diffId} does not match`));
  assert.equal(await store.has(img.layers[0]!.diffId), false);
});

void test("a Docker 25+ archive is served from its OCI layout, matching skopeo's oci-archive reading", async () => {
  const oci = await buildSampleImage();
  const blobs: TarEntry[] = blobsOf(oci).map((b) => ({ type: "file", path: `blobs/sha256/${b.digest.slice(7)}`, content: b.data }));
  const index = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociIndex,
    manifests: [{ mediaType: oci.manifest.mediaType, digest: oci.digest, size: oci.manifest.size, annotations: { "io.containerd.image.name": "docker.io/library/app:v1", "org.opencontainers.image.ref.name": "v1" } }],
  };
  const legacy = [{ Config: `blobs/sha256/${oci.config.digest.slice(7)}`, RepoTags: ["app:v1"], Layers: oci.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`) }];
  const p = fresh();
  await writeFile(
    p,
    buildTar([
      { type: "dir", path: "blobs/" },
      { type: "dir", path: "blobs/sha256/" },
      ...blobs,
      { type: "file", path: "index.json", content: JSON.stringify(index) },
      { type: "file", path: "manifest.json", content: JSON.stringify(legacy) },
      { type: "file", path: "oci-layout", content: JSON.stringify({ imageLayoutVersion: "1.0.0" }) },
    ]),
  );
  const src = await openDockerArchive(p, "app:v1");
  const r = await resolveImage(src, amd64);
  assert.equal(r.digest, oci.digest);
  assert.deepEqual(r.manifest.bytes, await skopeoRaw(`oci-archive:${p}`));
  const store = await BlobStore.open(fresh("-store"));
  const pulled = await pullImage({ source: src, store, platform: amd64 });
  assert.deepEqual(pulled.blobs.map((b) => b.digest).sort(), blobsOf(oci).map((b) => b.digest).sort());
  await src.close();
  await rejectsWith(openDockerArchive(p, "app:v2"), "not_found", /has no image named "app:v2"; it has: docker.io\/library\/app:v1/);
});

void test("compressed, corrupt, truncated and missing archives get clear errors", async () => {
  const good = fresh();
  await writeDockerArchive(good, img, ["app:1"]);
  const bytes = await readFile(good);
  const gz = fresh(".tar.gz");
  await writeFile(gz, gzipSync(bytes));
  await rejectsWith(openDockerArchive(gz), "unsupported", /is gzip-compressed; decompress it first \(gunzip /);
  const garbage = fresh();
  await writeFile(garbage, Buffer.alloc(2048, 0x41));
  await rejectsWith(openDockerArchive(garbage), "invalid_argument", /not a valid tar file: bad header checksum at offset 0/);
  const cut = fresh();
  await writeFile(cut, bytes.subarray(0, 3000));
  await rejectsWith(openDockerArchive(cut), "invalid_argument", /is truncated/);
  await rejectsWith(openDockerArchive(join(dir, "missing.tar")), "not_found", /does not exist/);
  const empty = fresh();
  await writeFile(empty, buildTar([{ type: "file", path: "hello", content: "x" }]));
  await rejectsWith(openDockerArchive(empty), "invalid_argument", /neither manifest.json nor index.json/);
  const hdr = fresh();
  await writeFile(hdr, buildTar([{ type: "file", path: "manifest.json", content: "[{\"Config\":1}]" }]));
  await rejectsWith(openDockerArchive(hdr), "invalid_argument", /entry 0 needs Config/);
  assert.equal(sha256(bytes), sha256(await readFile(good)), "inputs are never modified");
});

void test("an archive of several images needs a REF, lists the tags without one, and agrees with skopeo per image", async () => {
  const two = await buildSampleImage({ format: "docker", config: { Cmd: ["two"] } });
  const entry = (image: BuiltImage, tag: string, k: number): { files: TarEntry[]; json: object } => {
    const config = `${image.config.digest.slice(7)}.json`;
    const layers = image.layers.map((l, i) => ({ type: "file" as const, path: `${k}-${i}/layer.tar`, content: l.tar }));
    return { files: [...layers, { type: "file", path: config, content: image.config.data }], json: { Config: config, RepoTags: [tag], Layers: layers.map((l) => l.path) } };
  };
  const a = entry(img, "one:1", 0);
  const b = entry(two, "two:2", 1);
  const p = fresh();
  await writeFile(p, buildTar([...a.files, ...b.files, { type: "file", path: "manifest.json", content: JSON.stringify([a.json, b.json]) }]));
  await rejectsWith(openDockerArchive(p), "invalid_argument", /holds 2 images; name one as docker-archive:PATH:NAME\[:TAG\] or :@INDEX; it has: one:1, two:2/);
  for (const ref of ["one:1", "two:2", "@1"]) {
    const s = await openDockerArchive(p, ref);
    const r = await resolveImage(s, amd64);
    assert.deepEqual(r.manifest.bytes, await skopeoRaw(`docker-archive:${p}:${ref}`), ref);
    await s.close();
  }
});
