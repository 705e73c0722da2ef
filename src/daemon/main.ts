#!/usr/bin/env node
// `walkd`: parses flags, starts the daemon, and stops it cleanly on SIGTERM or SIGINT.
import { Command } from "commander";
import { WALK_VERSION, createLogger, isWalkError } from "../lib/index.js";
import { loadConfig } from "./config.js";
import { startDaemon } from "./daemon.js";

const program = new Command("walkd")
  .description("walk.io daemon: serves the walk API and runs machines")
  .version(WALK_VERSION, "-v, --version")
  .option("--config <file>", "TOML config file (env WALK_CONFIG; default /etc/walk/walkd.toml if present)")
  .option("--data-dir <dir>", "where walk keeps its state (env WALK_DATA_DIR; default /var/lib/walk)")
  .option("--runtime-dir <dir>", "sockets and other runtime files (env WALK_RUNTIME_DIR; default /run/walk)")
  .option("--socket <path>", "API socket (env WALK_SOCKET; default RUNTIME_DIR/walkd.sock)")
  .option("--socket-group <gid>", "group allowed to use the socket (mode 0660); default root only (0600)")
  .option("--tcp <host:port>", "also listen on TCP; requires --token-file")
  .option("--token-file <file>", "file holding the bearer token TCP clients must send")
  .option("--insecure-registry <host>", "allow plain HTTP to this registry (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option("--log-level <level>", "trace, debug, info, warn or error (env WALK_LOG_LEVEL)")
  .parse(process.argv);

try {
  const config = loadConfig({ flags: program.opts(), env: process.env });
  const log = createLogger(config.logLevel);
  const daemon = await startDaemon(config, log);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "walkd is stopping");
    daemon.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "error while stopping");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
} catch (err) {
  process.stderr.write(`walkd: ${isWalkError(err) || err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
