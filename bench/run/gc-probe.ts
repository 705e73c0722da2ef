// Preloaded into the benchmark's walkd (`node --expose-gc --import gc-probe.js`): on SIGUSR2 it
// runs a full garbage collection and writes process.memoryUsage() as JSON to the file named by
// WALK_BENCH_MEM_FILE (atomically), so the bench compares live memory rather than whatever V8 has
// not collected yet. It does nothing else and changes nothing in walkd.
import { renameSync, writeFileSync } from "node:fs";

const out = process.env.WALK_BENCH_MEM_FILE;
const gc = (globalThis as { gc?: () => void }).gc;
if (out !== undefined && gc !== undefined) {
  process.on("SIGUSR2", () => {
    // Twice: the first full GC can leave objects that only become unreachable after finalizers ran.
    gc();
    gc();
    writeFileSync(`${out}.tmp`, JSON.stringify(process.memoryUsage()));
    renameSync(`${out}.tmp`, out);
  });
}
