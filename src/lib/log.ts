// The process logger. walkd logs JSON lines (pino) to stderr; libraries take a Logger argument
// rather than importing a global, so tests can silence or capture them.
import { pino, type Logger as PinoLogger } from "pino";

export type Logger = PinoLogger;

export function createLogger(level: string = process.env.WALK_LOG_LEVEL ?? "info"): Logger {
  return pino({ level, base: undefined }, pino.destination(2));
}

export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
