// Power of two random choices (Mitzenmacher, "The Power of Two Choices in Randomized Load
// Balancing", 2001; Envoy's LEAST_REQUEST does this when weights are equal): draw two distinct
// backends, each with probability proportional to weight, keep the lower (active + 1) / weight
// raised by the utilization the server reports (loadFactor; [pools.NAME.load]).
// pick O(log n) (binary search in cumulative weights built by update(), O(n)); O(n) with `avoid`.
import type { Backend } from '../backend.js';
import type { PickContext, Selector } from './selector.js';
import { WeightedSet } from './weighted-set.js';

/** Power-of-two-choices selector (SPEC `power-of-two`). */
/**
 * How much a backend's reported utilization raises its score: 1 / (1 − u), u capped at 0.99
 * (so 1 at idle, 5 at 0.8, 100 when full); 1 while unknown. Of two backends with equal
 * weights and equal connections through lb, one at 0.8 and one at 0.05, the busy one wins a
 * pick only once the other holds about 4.75 times its connections: under a fifth of new
 * connections in steady state.
 */
export function loadFactor(utilization: number | null): number {
  return utilization === null ? 1 : 1 / (1 - Math.min(utilization, 0.99));
}

export class PowerOfTwoSelector implements Selector {
  private readonly set = new WeightedSet();
  /** cumulative[i] = weights[0] + … + weights[i]. */
  private cumulative = new Float64Array(0);
  private total = 0;
  /** All weights equal: draw an index directly, O(1). */
  private uniform = true;

  /** `random` returns values in [0, 1); inject a seeded one for reproducible tests. */
  constructor(private readonly random: () => number = Math.random) {}

  /** Rebuilds the cumulative weights when the set or a weight changed. O(n). */
  update(backends: readonly Backend[]): void {
    if (!this.set.assign(backends)) return;
    const weights = this.set.weights;
    this.cumulative = new Float64Array(weights.length);
    let sum = 0;
    this.uniform = true;
    for (let i = 0; i < weights.length; i++) {
      sum += weights[i];
      this.cumulative[i] = sum;
      if (weights[i] !== weights[0]) this.uniform = false;
    }
    this.total = sum;
  }

  /**
   * The lighter of two distinct weighted-random backends; a tie keeps the first drawn. A single
   * eligible backend is returned as is. O(log n); O(n) when `avoid` is non-empty.
   */
  pick(_ctx: PickContext, avoid: ReadonlySet<Backend> | null): Backend | undefined {
    const n = this.cumulative.length;
    if (n === 0) return undefined;
    if (avoid !== null && avoid.size > 0) return this.pickAvoiding(avoid);
    if (n === 1) return this.set.backends[0];
    const first = this.draw(-1);
    return this.lighter(first, this.draw(first));
  }

  /** A weighted-random index other than `exclude` (-1 = none). O(log n). */
  private draw(exclude: number): number {
    const n = this.cumulative.length;
    if (this.uniform) {
      // Draw among n − 1 and step over `exclude`: the second draw is distinct without retrying.
      const span = exclude < 0 ? n : n - 1;
      const k = Math.min(Math.floor(this.random() * span), span - 1);
      return exclude >= 0 && k >= exclude ? k + 1 : k;
    }
    const weights = this.set.weights;
    const cumulative = this.cumulative;
    let r = this.random() * (exclude < 0 ? this.total : this.total - weights[exclude]);
    // Map [0, total − w_exclude) onto [0, total) minus exclude's own interval.
    if (exclude >= 0 && r >= cumulative[exclude] - weights[exclude]) r += weights[exclude];
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid] > r) hi = mid;
      else lo = mid + 1;
    }
    // Fractional weights can round r onto a boundary; integer weights are exact.
    if (lo === exclude) return lo + 1 < n ? lo + 1 : lo - 1;
    return lo;
  }

  /** `a` unless `b` has a strictly lower score, (active + 1) / weight × loadFactor(utilization). */
  private lighter(a: number, b: number): Backend {
    const members = this.set.backends;
    const weights = this.set.weights;
    const ma = members[a]!;
    const mb = members[b]!;
    return (mb.active + 1) * loadFactor(mb.utilization) * weights[a]! < (ma.active + 1) * loadFactor(ma.utilization) * weights[b]! ? mb : ma;
  }

  private pickAvoiding(avoid: ReadonlySet<Backend>): Backend | undefined {
    const members = this.set.backends;
    const weights = this.set.weights;
    let sum = 0;
    let count = 0;
    let only = -1;
    for (let i = 0; i < members.length; i++) {
      if (avoid.has(members[i])) continue;
      sum += weights[i];
      count++;
      only = i;
    }
    if (count === 0) return undefined;
    if (count === 1) return members[only];
    const first = this.drawLinear(avoid, -1, sum);
    return this.lighter(first, this.drawLinear(avoid, first, sum - weights[first]));
  }

  /** A weighted-random index not in `avoid` and not `exclude`; `sum` is their total weight. O(n). */
  private drawLinear(avoid: ReadonlySet<Backend>, exclude: number, sum: number): number {
    const members = this.set.backends;
    const weights = this.set.weights;
    let r = this.random() * sum;
    let last = -1;
    for (let i = 0; i < members.length; i++) {
      if (i === exclude || avoid.has(members[i])) continue;
      r -= weights[i];
      if (r < 0) return i;
      last = i;
    }
    // Only reached when rounding leaves r at exactly 0 after the last candidate.
    return last;
  }
}
