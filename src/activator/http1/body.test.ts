import { test } from "node:test";
import assert from "node:assert/strict";
import { BodyError, BodyReader } from "./body.js";
import type { Framing } from "./head.js";

/** Feeds `wire` split at every position in `splits` (and as a whole); returns the body and what was left after it. */
function readAll(framing: Framing, wire: Buffer, cut: number[] = []): { body: string; rest: string; done: boolean } {
  const r = new BodyReader(framing);
  const out: Buffer[] = [];
  let rest = Buffer.alloc(0);
  const bounds = [0, ...cut, wire.length];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const piece = wire.subarray(bounds[i], bounds[i + 1]);
    if (r.done) {
      rest = Buffer.concat([rest, piece]);
      continue;
    }
    const used = r.read(piece, out);
    rest = Buffer.concat([rest, piece.subarray(used)]);
  }
  return { body: Buffer.concat(out).toString("latin1"), rest: rest.toString("latin1"), done: r.done };
}

const CHUNKED = Buffer.from("4\r\nWiki\r\n5;ext=1; x=\"q\"\r\npedia\r\nE \t;y\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\nGET /next");

test("chunked: decoded the same whatever the split, extensions and trailers dropped, the next message left", () => {
  const whole = readAll({ kind: "chunked" }, CHUNKED);
  assert.deepEqual(whole, { body: "Wikipedia in\r\n\r\nchunks.", rest: "GET /next", done: true });
  for (let a = 1; a < CHUNKED.length; a++) {
    for (const b of [a + 1, a + 7, CHUNKED.length - 1]) {
      if (b <= a || b >= CHUNKED.length) continue;
      assert.deepEqual(readAll({ kind: "chunked" }, CHUNKED, [a, b]), whole, `split at ${a},${b}`);
    }
  }
});

test("chunked: one byte at a time", () => {
  const cuts = Array.from({ length: CHUNKED.length - 1 }, (_, i) => i + 1);
  assert.deepEqual(readAll({ kind: "chunked" }, CHUNKED, cuts).body, "Wikipedia in\r\n\r\nchunks.");
});

test("chunked: uppercase hex and leading zeros are sizes", () => {
  assert.equal(readAll({ kind: "chunked" }, Buffer.from("0000A\r\n0123456789\r\n0\r\n\r\n")).body, "0123456789");
});

const BAD_CHUNKED: Array<[string, string, RegExp]> = [
  ["a size that is not hex", "g\r\n", /not hexadecimal/],
  ["a 0x prefix", "0x5\r\nhello\r\n", /garbage after a chunk size|not hexadecimal/],
  ["a negative size", "-1\r\n", /not hexadecimal/],
  ["an empty size", "\r\n", /not hexadecimal/],
  ["a size too large", "fffffffffffffff\r\n", /chunk size too large/],
  ["a size line with a bare LF", "5\nhello\r\n", /not hexadecimal/],
  ["a CR without LF after the size", "5\rhello", /must end with CRLF/],
  ["data longer than its size", "3\r\nhello\r\n", /chunk data must end with CRLF/],
  ["data without CRLF", "5\r\nhelloX", /chunk data must end with CRLF/],
  ["garbage after the size", "5 x\r\nhello\r\n", /garbage after a chunk size/],
  ["a control byte in an extension", "5;a=\x01\r\nhello\r\n", /control character in a chunk extension/],
  ["a bare LF in a trailer", "0\r\nX: a\nY: b\r\n\r\n", /control character in a trailer/],
  ["a last chunk without the final CRLF", "0\r\n\rX", /must end with CRLF/],
];

for (const [what, wire, message] of BAD_CHUNKED) {
  test(`chunked: refused: ${what}`, () => {
    assert.throws(() => readAll({ kind: "chunked" }, Buffer.from(wire)), (e: unknown) => e instanceof BodyError && message.test(e.message));
  });
}

test("chunked: an endless extension or trailer section is refused once past its bound", () => {
  assert.throws(() => readAll({ kind: "chunked" }, Buffer.from(`5;${"a".repeat(5000)}`)), /chunk extension too long/);
  assert.throws(() => readAll({ kind: "chunked" }, Buffer.from(`5${" ".repeat(5000)}`)), /chunk size line too long/);
  assert.throws(() => readAll({ kind: "chunked" }, Buffer.from(`0\r\n${"X: y\r\n".repeat(3000)}`)), /trailer section too large/);
});

test("length: exactly that many bytes, the rest is the next message; length 0 and none are done at once", () => {
  assert.deepEqual(readAll({ kind: "length", length: 5 }, Buffer.from("helloGET"), [2]), { body: "hello", rest: "GET", done: true });
  assert.equal(new BodyReader({ kind: "length", length: 0 }).done, true);
  assert.equal(new BodyReader({ kind: "none" }).done, true);
  assert.equal(new BodyReader({ kind: "none" }).read(Buffer.from("x"), []), 0);
});

test("a truncated body is an error at end(); a close-delimited body ends there", () => {
  const len = new BodyReader({ kind: "length", length: 5 });
  len.read(Buffer.from("hel"), []);
  assert.throws(() => len.end(), /closed before the body ended/);
  const ch = new BodyReader({ kind: "chunked" });
  ch.read(Buffer.from("5\r\nhel"), []);
  assert.throws(() => ch.end(), /closed before the body ended/);
  const close = new BodyReader({ kind: "close" });
  const out: Buffer[] = [];
  assert.equal(close.read(Buffer.from("all of it"), out), 9);
  assert.equal(close.done, false);
  close.end();
  assert.equal(close.done, true);
  assert.equal(Buffer.concat(out).toString(), "all of it");
});
