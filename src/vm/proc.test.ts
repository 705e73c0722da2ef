// /proc/PID/stat parsing: the start time is field 22 even when the command name has spaces and parentheses.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { isSameProcessAlive, parseProcessStat, readProcessStat } from "./proc.js";

test("field 22 is found after a command name with spaces and parentheses", () => {
  const fields = ["S", ...Array.from({ length: 18 }, (_, i) => String(i + 4)), "987654", "23", "24"];
  assert.deepEqual(parseProcessStat(`4242 (fire cracker) (x)) ${fields.join(" ")}\n`), { state: "S", startTime: "987654" });
  assert.equal(parseProcessStat("4242 no parens"), null);
  assert.equal(parseProcessStat("4242 (short) S 1 2"), null);
});

test("the current process matches its own start time and not another", async () => {
  const own = await readProcessStat(process.pid);
  assert.ok(own);
  const raw = await readFile(`/proc/${process.pid}/stat`, "utf8");
  assert.equal(own.startTime, raw.slice(raw.lastIndexOf(")") + 2).split(" ")[19]);
  assert.equal(await isSameProcessAlive(process.pid, own.startTime), true);
  assert.equal(await isSameProcessAlive(process.pid, String(Number(own.startTime) + 1)), false);
  assert.equal(await readProcessStat(2 ** 22 + 1), null, "above pid_max: no such process");
});
