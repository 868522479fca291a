// A tiny seeded PRNG for deterministic tests: mulberry32 (Tommy Ettinger, public domain).
// Same seed, same sequence, on every machine; not for anything but tests.

/** A function returning values in [0, 1), determined entirely by `seed` (taken as uint32). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [0, n) from `random`. */
export function randomInt(random: () => number, n: number): number {
  return Math.floor(random() * n);
}
