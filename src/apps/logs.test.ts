import { test } from "node:test";
import assert from "node:assert/strict";
import { consoles } from "./logs.js";

async function* chunks(...parts: Array<string | Promise<void>>): AsyncGenerator<Buffer> {
  for (const p of parts) {
    if (typeof p === "string") yield Buffer.from(p);
    else await p;
  }
}

async function text(g: AsyncGenerator<Buffer>): Promise<string[]> {
  const out: string[] = [];
  for await (const c of g) out.push(c.toString());
  return out;
}

test("consoles: one machine's output passes as it is", async () => {
  assert.deepEqual(await text(consoles([{ label: "a", lines: chunks("x\ny", "z") }], true)), ["x\ny", "z"]);
});

test("consoles: several machines give whole lines with the machine's name, one after the other", async () => {
  const got = await text(consoles([{ label: "m0", lines: chunks("one\ntw", "o\nlast") }, { label: "m1", lines: chunks("b\n") }], false));
  assert.deepEqual(got, ["m0 | one\n", "m0 | two\n", "m0 | last\n", "m1 | b\n"]);
});

test("consoles: following, lines of several machines interleave as they arrive", async () => {
  let release!: () => void;
  const later = new Promise<void>((r) => (release = r));
  const slow = chunks("first\n", later, "third\n");
  const fast = (async function* () {
    yield Buffer.from("second\n");
    release();
  })();
  assert.deepEqual(await text(consoles([{ label: "s", lines: slow }, { label: "f", lines: fast }], true)), ["s | first\n", "f | second\n", "s | third\n"]);
});
