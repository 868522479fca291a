// The backends a selector may choose, with their weights as of the last update().
// Invariant: only backends with a positive, finite weight are kept (weight 0 takes no new
// sessions), in the order given; weights are a snapshot, so a selector's precomputed order never
// disagrees with a weight edited in place before update() ran. assign() is O(n).
import type { Backend } from '../backend.js';

/** True when `weight` lets a backend take new sessions. */
export function isPickableWeight(weight: number): boolean {
  return weight > 0 && Number.isFinite(weight);
}

export class WeightedSet {
  /** Pickable backends in update() order. Replaced, never mutated, by assign(). */
  backends: readonly Backend[] = [];
  /** weights[i] is backends[i].effectiveWeight when assign() last changed the set. */
  weights: Float64Array = new Float64Array(0);

  /**
   * Take the pickable members of `next` (not mutated). Returns false and changes nothing when
   * they are the same backend objects, in the same order, with the same weights as before, so a
   * selector can skip a rebuild and keep its rotation. Allocates only when something changed.
   */
  assign(next: readonly Backend[]): boolean {
    let j = 0;
    let same = true;
    for (const b of next) {
      if (!isPickableWeight(b.effectiveWeight)) continue;
      if (j >= this.backends.length || this.backends[j] !== b || this.weights[j] !== b.effectiveWeight) {
        same = false;
        break;
      }
      j++;
    }
    if (same && j === this.backends.length) return false;
    const backends = next.filter((b) => isPickableWeight(b.effectiveWeight));
    this.backends = backends;
    this.weights = Float64Array.from(backends, (b) => b.effectiveWeight);
    return true;
  }

  /** True when every backend is in `avoid`: none is left to pick. O(n). */
  allIn(avoid: ReadonlySet<Backend>): boolean {
    for (const b of this.backends) if (!avoid.has(b)) return false;
    return true;
  }
}
