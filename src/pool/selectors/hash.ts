// Key hashing for the selectors: pure, non-cryptographic, 32-bit, no allocation per call.
// hashString is MurmurHash3_x86_32 (Austin Appleby, public domain) over the string's UTF-16LE
// bytes, read straight from charCodeAt: O(length), no Buffer. Different seeds give the
// independent hashes Maglev needs (offset, skip) and keep the client-key hash apart from both.

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** Murmur3's block scramble: one 32-bit input word before it is folded into the state. */
function scramble(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

/** Murmur3's state update for one full 4-byte block. */
function fold(h: number, k: number): number {
  h ^= scramble(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/**
 * Murmur3's finalizer: every input bit affects every output bit (avalanche).
 * Accepts any number (taken as int32); returns an unsigned 32-bit integer.
 */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * MurmurHash3_x86_32 of `s` encoded as UTF-16LE (for ASCII text: each character followed by a
 * zero byte), so it can be checked against any reference implementation fed those bytes.
 * `seed` is taken as uint32. Returns an unsigned 32-bit integer. O(s.length); allocates nothing.
 */
export function hashString(s: string, seed: number): number {
  let h = seed | 0;
  const len = s.length;
  const paired = len & ~1;
  // Two UTF-16 code units make one 4-byte little-endian block.
  for (let i = 0; i < paired; i += 2) {
    h = fold(h, s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16));
  }
  // An odd length leaves a 2-byte tail.
  if (paired !== len) h ^= scramble(s.charCodeAt(paired));
  h ^= len * 2;
  return fmix32(h);
}

/**
 * Combine a finished hash `h` with an integer `n` (taken as uint32), e.g. an IP's hash with a
 * port, without building the text `ip:port`. For a fixed `h` distinct `n` give distinct results,
 * and for a fixed `n` distinct `h` do (every step is a bijection). Returns an unsigned 32-bit integer.
 */
export function mixInt(h: number, n: number): number {
  return fmix32(fold(h, n) ^ 4);
}
