// ext4's directory-index hash, half-MD4 over unsigned name bytes (hash version 1 with the
// superblock's "unsigned" flag), seeded from the superblock. Used to order htree leaves.

const DEFAULT_SEED = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

function rol(x: number, s: number): number {
  return ((x << s) | (x >>> (32 - s))) >>> 0;
}

const K2 = 0x5a827999; // octal 013240474631
const K3 = 0x6ed9eba1; // octal 015666365641
const F = (x: number, y: number, z: number): number => z ^ (x & (y ^ z));
const G = (x: number, y: number, z: number): number => ((x & y) + ((x ^ y) & z)) >>> 0;
const H = (x: number, y: number, z: number): number => x ^ y ^ z;

// Each step: [function, word index, shift, constant]; the registers rotate a, d, c, b.
const STEPS: [typeof F, number, number, number][] = [
  ...[0, 1, 2, 3, 4, 5, 6, 7].map((w, i): [typeof F, number, number, number] => [F, w, [3, 7, 11, 19][i % 4]!, 0]),
  ...[1, 3, 5, 7, 0, 2, 4, 6].map((w, i): [typeof F, number, number, number] => [G, w, [3, 5, 9, 13][i % 4]!, K2]),
  ...[3, 7, 2, 6, 1, 5, 0, 4].map((w, i): [typeof F, number, number, number] => [H, w, [3, 9, 11, 15][i % 4]!, K3]),
];

function transform(buf: number[], words: readonly number[]): void {
  const r = [buf[0]!, buf[1]!, buf[2]!, buf[3]!]; // a b c d
  STEPS.forEach(([f, w, s, k], i) => {
    // Step i updates a, d, c, b in turn, each from the next three in a-b-c-d order.
    const t = [0, 3, 2, 1][i % 4]!;
    const x = r[(t + 1) % 4]!;
    const y = r[(t + 2) % 4]!;
    const z = r[(t + 3) % 4]!;
    r[t] = rol((r[t]! + f(x, y, z) + words[w]! + k) >>> 0, s);
  });
  for (let i = 0; i < 4; i++) buf[i] = (buf[i]! + r[i]!) >>> 0;
}

/** Packs up to 32 name bytes into 8 words the way ext4 does, padding with the length. */
function nameWords(name: Buffer, start: number): number[] {
  const len = name.length - start;
  let pad = (len | (len << 8)) >>> 0;
  pad = (pad | (pad << 16)) >>> 0;
  const words: number[] = [];
  let val = pad;
  const n = Math.min(len, 32);
  for (let i = 0; i < n; i++) {
    val = (name[start + i]! + ((val << 8) >>> 0)) >>> 0;
    if (i % 4 === 3) {
      words.push(val);
      val = pad;
    }
  }
  if (words.length < 8 && n % 4 !== 0) words.push(val);
  while (words.length < 8) words.push(pad);
  return words;
}

/** The major hash (low bit clear, as ext4 keeps it) of a name under a 4-word seed. */
export function dirHash(name: Buffer, seed: readonly number[]): number {
  const buf = seed.every((w) => w === 0) ? [...DEFAULT_SEED] : [...seed];
  for (let off = 0; off < name.length; off += 32) transform(buf, nameWords(name, off));
  return (buf[1]! & ~1) >>> 0;
}
