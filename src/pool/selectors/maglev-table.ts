// Maglev lookup table (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
// Balancer", NSDI'16, §3.4 "Populate"), weighted as in Envoy's maglev_lb.cc. Pure: the table
// depends only on the set of (name, weight) pairs, never on their order. Build O(M log M)
// on average (O(M²) worst case, §3.4), M = table size; lookup is one array read, O(1).
import { hashString } from './hash.js';

/** 65537 = 2^16 + 1: prime, and ≥ 100·N for up to 655 backends (§5.3: M ≫ N keeps imbalance low). */
export const DEFAULT_TABLE_SIZE = 65537;

/** table[slot] = index of a backend in the arrays given to buildMaglevTable(). */
export type MaglevTable = Uint16Array | Uint32Array;

/** Seeds of the two independent hashes of §3.4: offset = h1(name) % M, skip = h2(name) % (M − 1) + 1. */
const OFFSET_SEED = 0x6d61676c;
const SKIP_SEED = 0x65763136;

/** True when `n` is a prime integer. O(√n). */
export function isPrime(n: number): boolean {
  if (!Number.isSafeInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** The next entry of a permutation: (slot + skip) % size without a division; skip < size. */
function advance(slot: number, skip: number, size: number): number {
  const next = slot + skip;
  return next >= size ? next - size : next;
}

/**
 * Build a Maglev table of `tableSize` slots over backends named `names[i]` with weight
 * `weights[i]`. Accepts 1 ≤ names.length ≤ tableSize, positive finite weights and a prime
 * `tableSize` (so every permutation visits every slot); throws RangeError otherwise. Names are
 * expected to be unique (backend keys): two equal names would get the same permutation.
 *
 * Each backend walks its own permutation, permutation[j] = (offset + j·skip) % M, and claims its
 * next free slot when its turn comes. Turns follow Envoy: in round r, a backend of weight w
 * takes a turn when r·w ≥ its target, then raises the target by the largest weight, so the
 * heaviest backend takes a turn every round and the others in proportion (every backend takes
 * one in round 0). Backends take turns in name order, which makes the table order-independent.
 * Entries per backend come out within a few of M·w/Σw.
 */
export function buildMaglevTable(
  names: readonly string[],
  weights: readonly number[] | Float64Array,
  tableSize: number = DEFAULT_TABLE_SIZE,
): MaglevTable {
  const n = names.length;
  if (!isPrime(tableSize)) throw new RangeError(`Maglev table size must be prime (got ${tableSize})`);
  if (n < 1 || n > tableSize) {
    throw new RangeError(`Maglev table needs 1 to ${tableSize} backends (got ${n})`);
  }
  if (weights.length !== n) throw new RangeError(`got ${n} names but ${weights.length} weights`);
  let maxWeight = 0;
  for (const w of weights) {
    if (!(w > 0 && Number.isFinite(w))) throw new RangeError(`Maglev weights must be positive (got ${w})`);
    if (w > maxWeight) maxWeight = w;
  }

  // Turns go in name order (code units, not locale), so the input order does not matter.
  const order = Array.from(names.keys()).sort((a, b) =>
    names[a] < names[b] ? -1 : names[a] > names[b] ? 1 : 0,
  );
  const skip = new Float64Array(n);
  /** next[i]: the slot backend i tries next, permutation[j] for its current j (j = 0: offset). */
  const next = new Float64Array(n);
  const target = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    next[i] = hashString(names[i], OFFSET_SEED) % tableSize;
    skip[i] = (hashString(names[i], SKIP_SEED) % (tableSize - 1)) + 1;
  }

  // n < EMPTY, so EMPTY never names a backend.
  const EMPTY = n < 0xffff ? 0xffff : 0xffffffff;
  const table: MaglevTable = EMPTY === 0xffff ? new Uint16Array(tableSize) : new Uint32Array(tableSize);
  table.fill(EMPTY);
  let filled = 0;
  for (let round = 0; filled < tableSize; round++) {
    for (let t = 0; t < n && filled < tableSize; t++) {
      const i = order[t];
      if (round * weights[i] < target[i]) continue;
      target[i] += maxWeight;
      // The table is not full and the permutation covers every slot, so this ends.
      let slot = next[i];
      while (table[slot] !== EMPTY) slot = advance(slot, skip[i], tableSize);
      table[slot] = i;
      next[i] = advance(slot, skip[i], tableSize);
      filled++;
    }
  }
  return table;
}
