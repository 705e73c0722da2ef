// Builds the quick start's demo images offline: Debian's busybox-static as a one-layer OCI image,
// written as an OCI layout at the path given: tag "demo" prints a greeting, tag "web" serves one
// over HTTP on port 8080 (the quick start's app). Usage: node dist/scripts/demo-image.js DIR
import { readFile } from "node:fs/promises";
import { buildImage, writeOciLayout, type TarEntry } from "../test/fixtures/images.js";

const APPLETS = ["sh", "echo", "cat", "ls", "uname", "sleep", "env", "id", "hostname", "printf", "true", "false", "httpd", "wget"];

const dir = process.argv[2];
if (!dir) {
  process.stderr.write("usage: demo-image.js DIR\n");
  process.exit(2);
}
const busybox = await readFile("/bin/busybox").catch(() => {
  process.stderr.write("demo-image: /bin/busybox is missing; install Debian's busybox-static\n");
  process.exit(1);
});
const entries: TarEntry[] = [
  { type: "dir", path: "bin", mode: 0o755 },
  { type: "file", path: "bin/busybox", mode: 0o755, content: busybox },
  ...APPLETS.map((a): TarEntry => ({ type: "symlink", path: `bin/${a}`, target: "busybox" })),
  { type: "dir", path: "etc", mode: 0o755 },
  { type: "file", path: "etc/passwd", mode: 0o644, content: "root:x:0:0:root:/root:/bin/sh\nwalker:x:1000:1000:walker:/home/walker:/bin/sh\n" },
  { type: "file", path: "etc/group", mode: 0o644, content: "root:x:0:\nwalker:x:1000:\n" },
  { type: "dir", path: "home/walker", mode: 0o755, uid: 1000, gid: 1000 },
  { type: "dir", path: "tmp", mode: 0o1777 },
];
const config = { Entrypoint: ["/bin/sh", "-c"], Env: ["PATH=/bin", "GREETING=hello"], WorkingDir: "/home/walker", User: "walker" };
const layers = [{ entries, compression: "gzip" as const }];
const image = await buildImage({ layers, config: { ...config, Cmd: ["echo \"hello from walk.io: $(uname -sr) as $(id -un) in $PWD\""] } });
// The same layer, serving a page with busybox httpd on port 8080: the quick start's app.
const web = await buildImage({
  layers,
  config: { ...config, Cmd: ["mkdir -p /tmp/www && echo \"hello from walk.io: $(uname -sr) in microVM $(hostname)\" > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"] },
});
await writeOciLayout(dir, [
  { image, tag: "demo" },
  { image: web, tag: "web" },
]);
process.stdout.write(`${image.digest}\n`);
