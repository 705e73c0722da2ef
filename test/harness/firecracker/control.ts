// Test-side handle on the Firecracker stand-in: writes the executable wrapper scripts a driver
// is pointed at (`firecracker`, and `jailer` when asked), and reads back what the stand-in saw.
import { chmod, readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

/** Repository root, from dist/test/harness/firecracker/. */
const REPO_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
export const FIRECRACKER_SPEC_PATH = join(REPO_ROOT, "..", "shared", "firecracker", "firecracker.yaml");
const STANDIN_JS = fileURLToPath(new URL("../firecracker-standin.js", import.meta.url));

export type StandinMode = "ignore-ctrl-alt-del" | "no-socket" | "exit-early";

export interface LoggedRequest {
  method: string;
  path: string;
  body?: Record<string, unknown>;
  raw?: string;
  status: number;
  fault_message?: string;
}

export interface Standin {
  /** Executable to configure as the Firecracker binary. */
  firecrackerPath: string;
  /** Executable to configure as the jailer binary. */
  jailerPath: string;
  /** Every API request the stand-in answered, in order (across all its processes). */
  requests(): Promise<LoggedRequest[]>;
  /** The argv of each jailer invocation. */
  jailerCalls(): Promise<string[][]>;
  /** Makes the stand-in answer `"METHOD /path"` with this fault from now on. */
  setFaults(faults: Record<string, { status: number; fault_message: string }>): Promise<void>;
}

export async function createStandin(dir: string, modes: StandinMode[] = []): Promise<Standin> {
  const logPath = join(dir, "standin-requests.jsonl");
  const faultsPath = join(dir, "standin-faults.json");
  await writeFile(logPath, "");
  const wrapper = async (name: string, asJailer: boolean): Promise<string> => {
    const path = join(dir, name);
    const vars = { FC_STANDIN_SPEC: FIRECRACKER_SPEC_PATH, FC_STANDIN_LOG: logPath, FC_STANDIN_FAULTS: faultsPath, FC_STANDIN_MODE: modes.join(","), FC_STANDIN_AS_JAILER: asJailer ? "1" : "0" };
    const exports = Object.entries(vars).map(([k, v]) => `export ${k}=${sh(v)}`);
    // exec: the pid the driver spawned is the stand-in's, as it is Firecracker's in production.
    await writeFile(path, ["#!/bin/sh", ...exports, `exec ${sh(process.execPath)} ${sh(STANDIN_JS)} "$@"`, ""].join("\n"));
    await chmod(path, 0o755);
    return path;
  };
  const lines = async (): Promise<Record<string, unknown>[]> =>
    (await readFile(logPath, "utf8"))
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    firecrackerPath: await wrapper("firecracker", false),
    jailerPath: await wrapper("jailer", true),
    requests: async () => (await lines()).filter((l) => !("jailer" in l)) as unknown as LoggedRequest[],
    jailerCalls: async () => (await lines()).filter((l) => "jailer" in l).map((l) => l.jailer as string[]),
    setFaults: (faults) => writeFile(faultsPath, JSON.stringify(faults)),
  };
}

function sh(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
