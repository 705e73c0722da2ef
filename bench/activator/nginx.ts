// nginx for the activator benchmark: one instance, generated config, serving two roles on
// loopback: the shared upstream (a fixed small response) and the reference reverse proxy to it
// (keep-alive upstream pool, as the activator has). Started and stopped by the benchmark only.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:net";

export interface NginxPorts {
  upstream: number;
  proxy: number;
}

const UPSTREAM_BODY = "hello from the upstream\n";

function config(dir: string, p: NginxPorts, workers: number): string {
  return `
worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  upstream app { server 127.0.0.1:${p.upstream}; keepalive 64; }
  server {
    listen 127.0.0.1:${p.upstream};
    location / { default_type text/plain; return 200 "${UPSTREAM_BODY.replace("\n", "\\n")}"; }
  }
  server {
    listen 127.0.0.1:${p.proxy};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
    }
  }
}
`;
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });
}

export class Nginx {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  static async start(ports: NginxPorts, workers: number): Promise<Nginx> {
    const dir = mkdtempSync(join(tmpdir(), "walk-bench-nginx-"));
    writeFileSync(join(dir, "nginx.conf"), config(dir, ports, workers));
    // "user" is left at nginx's default; the temp dirs are only used for large bodies, which this benchmark has none of.
    const child = spawn("nginx", ["-p", dir, "-c", join(dir, "nginx.conf"), "-g", "daemon off;"], { stdio: ["ignore", "ignore", "inherit"] });
    const n = new Nginx(child, dir);
    for (let i = 0; i < 200; i++) {
      if (child.exitCode !== null) throw new Error(`nginx exited with status ${child.exitCode}; see ${dir}/error.log`);
      if ((await accepts(ports.upstream)) && (await accepts(ports.proxy))) return n;
      await new Promise((r) => setTimeout(r, 25));
    }
    await n.stop();
    throw new Error("nginx did not start listening within 5 s");
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((r) => this.child.once("exit", r));
      this.child.kill("SIGQUIT");
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
