// ext4's directory-index hash, half-MD4 over unsigned name bytes (hash version 1 with the
// superblock's "unsigned" flag), seeded from the superblock. Used to order htree leaves.
// Written for speed: no allocation per name, since every entry of a large directory is hashed.

const DEFAULT_SEED = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
const K2 = 0x5a827999; // octal 013240474631
const K3 = 0x6ed9eba1; // octal 015666365641

// The 24 steps: which input word, shift and round function (0 F, 1 G, 2 H) each uses. Step i
// updates register a, d, c, b in turn, from the other three in a-b-c-d order.
const WORD = Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7, 1, 3, 5, 7, 0, 2, 4, 6, 3, 7, 2, 6, 1, 5, 0, 4]);
const SHIFT = Uint8Array.from([3, 7, 11, 19, 3, 7, 11, 19, 3, 5, 9, 13, 3, 5, 9, 13, 3, 9, 11, 15, 3, 9, 11, 15]);
const TARGET = Uint8Array.from([0, 3, 2, 1]);

const words = new Uint32Array(8);
const state = new Uint32Array(4);
const regs = new Uint32Array(4);

function transform(): void {
  regs.set(state);
  for (let i = 0; i < 24; i++) {
    const t = TARGET[i & 3]!;
    const x = regs[(t + 1) & 3]!;
    const y = regs[(t + 2) & 3]!;
    const z = regs[(t + 3) & 3]!;
    const round = i >> 3;
    const f = round === 0 ? z ^ (x & (y ^ z)) : round === 1 ? (x & y) + ((x ^ y) & z) : x ^ y ^ z;
    const v = (regs[t]! + f + words[WORD[i]!]! + (round === 0 ? 0 : round === 1 ? K2 : K3)) >>> 0;
    const s = SHIFT[i]!;
    regs[t] = (v << s) | (v >>> (32 - s));
  }
  for (let i = 0; i < 4; i++) state[i] = state[i]! + regs[i]!;
}

/** Packs up to 32 name bytes from `start` into the 8 words, padded with the length as ext4 does. */
function loadWords(name: string, start: number): void {
  const len = name.length - start;
  let pad = (len | (len << 8)) >>> 0;
  pad = (pad | (pad << 16)) >>> 0;
  let val = pad;
  let w = 0;
  const n = Math.min(len, 32);
  for (let i = 0; i < n; i++) {
    val = (name.charCodeAt(start + i) + (val << 8)) >>> 0;
    if ((i & 3) === 3) {
      words[w++] = val;
      val = pad;
    }
  }
  if (w < 8 && (n & 3) !== 0) words[w++] = val;
  while (w < 8) words[w++] = pad;
}

/** The major hash (low bit clear, as ext4 keeps it) of a name (binary string) under a seed. */
export function dirHash(name: string, seed: readonly number[]): number {
  state.set(seed.every((x) => x === 0) ? DEFAULT_SEED : seed);
  for (let off = 0; off < name.length; off += 32) {
    loadWords(name, off);
    transform();
  }
  return (state[1]! & ~1) >>> 0;
}
