// Normalising tar paths into tree components, lexically and without ever consulting a symlink:
// strip leading "/" and "./", drop "." and empty components, resolve "..", and refuse any path
// that climbs above the root. Components are binary strings (one character per byte).
import { WalkError } from "../../lib/errors.js";
import type { FlattenLimits } from "./limits.js";

/** A binary-string path for messages: UTF-8 where valid, JSON-quoted so control bytes show. */
export function showPath(components: readonly string[] | string): string {
  const raw = typeof components === "string" ? components : `/${components.join("/")}`;
  return JSON.stringify(Buffer.from(raw, "latin1").toString("utf8"));
}

/** The components of `raw` below the root, checked against the path bounds. */
export function normalizePath(raw: string, limits: FlattenLimits, what: string): string[] {
  if (raw.length > limits.maxPathBytes) {
    throw new WalkError("size_exceeded", `${what} ${showPath(raw.slice(0, 200))}… is ${raw.length} bytes long, more than the limit of ${limits.maxPathBytes}`);
  }
  if (raw.includes("\0")) throw new WalkError("invalid_argument", `${what} ${showPath(raw)} contains a NUL byte`);
  const out: string[] = [];
  for (const part of raw.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.pop() === undefined) throw new WalkError("invalid_argument", `${what} ${showPath(raw)} escapes the root with ".."`);
      continue;
    }
    if (part.length > limits.maxNameBytes) {
      throw new WalkError("size_exceeded", `${what} ${showPath(raw)} has a component of ${part.length} bytes, more than the limit of ${limits.maxNameBytes}`);
    }
    out.push(part);
  }
  if (out.length > limits.maxDepth) throw new WalkError("size_exceeded", `${what} ${showPath(raw.slice(0, 200))}… is ${out.length} levels deep, more than the limit of ${limits.maxDepth}`);
  return out;
}
