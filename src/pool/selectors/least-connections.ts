// Weighted least-connections: the backend with the lowest (active + 1) / weight, the score of
// HAProxy's leastconn (src/lb_fwlc.c), so that with no sessions a heavier backend goes first.
// Ties go to the least recently picked backend, then the earlier one in update() order, so
// tied backends rotate (gobetween's leastconn sends every tie to the same backend).
// An indexed binary min-heap keeps that order: pick, onAcquire, onRelease O(log n); update O(n).
import type { Backend } from '../backend.js';
import type { PickContext, Selector } from './selector.js';
import { WeightedSet } from './weighted-set.js';

/** Least-connections selector (SPEC `least-connections`). */
export class LeastConnectionsSelector implements Selector {
  private readonly set = new WeightedSet();
  /** Backend → its index ("slot") in set.backends; absent = not eligible, notifications ignored. */
  private slotOf = new Map<Backend, number>();
  /** heap[k] is a slot; heap[0] has the lowest (score, lastPick, slot). */
  private heap = new Int32Array(0);
  /** heapIndex[slot] is where that slot sits in `heap`. */
  private heapIndex = new Int32Array(0);
  /** lastPick[slot]: value of `picks` when that backend was last picked; 0 = never. */
  private lastPick = new Float64Array(0);
  /** Picks so far: a monotonic sequence number that orders ties. */
  private picks = 0;

  /**
   * Re-reads every eligible backend's `active` and rebuilds the heap. O(n). Backends that stay
   * eligible keep their last-pick sequence, so the tie rotation carries across updates.
   */
  update(backends: readonly Backend[]): void {
    if (this.set.assign(backends)) {
      const members = this.set.backends;
      const n = members.length;
      const slotOf = new Map<Backend, number>();
      const lastPick = new Float64Array(n);
      for (let slot = 0; slot < n; slot++) {
        const b = members[slot];
        slotOf.set(b, slot);
        const old = this.slotOf.get(b);
        if (old !== undefined) lastPick[slot] = this.lastPick[old];
      }
      this.slotOf = slotOf;
      this.lastPick = lastPick;
      this.heap = new Int32Array(n);
      this.heapIndex = new Int32Array(n);
    }
    const n = this.heap.length;
    for (let slot = 0; slot < n; slot++) {
      this.heap[slot] = slot;
      this.heapIndex[slot] = slot;
    }
    // Floyd's heapify: O(n).
    for (let k = (n >>> 1) - 1; k >= 0; k--) this.siftDown(k);
  }

  /**
   * The backend with the lowest score; ties rotate. O(log n), or O(n) when `avoid` is
   * non-empty. Marks the chosen backend as just picked even if the caller never acquires it.
   */
  pick(_ctx: PickContext, avoid: ReadonlySet<Backend> | null): Backend | undefined {
    const n = this.heap.length;
    if (n === 0) return undefined;
    let slot: number;
    if (avoid === null || avoid.size === 0) {
      slot = this.heap[0];
    } else {
      slot = -1;
      const members = this.set.backends;
      for (let s = 0; s < n; s++) {
        if (avoid.has(members[s])) continue;
        if (slot < 0 || this.less(s, slot)) slot = s;
      }
      if (slot < 0) return undefined;
    }
    this.lastPick[slot] = ++this.picks;
    // A later lastPick only raises the key.
    this.siftDown(this.heapIndex[slot]);
    return this.set.backends[slot];
  }

  /** `b.active` went up: moves `b` down the heap. O(log n). Ignores backends not in the last update(). */
  onAcquire(b: Backend): void {
    const slot = this.slotOf.get(b);
    if (slot !== undefined) this.siftDown(this.heapIndex[slot]);
  }

  /** `b.active` went down: moves `b` up the heap. O(log n). Ignores backends not in the last update(). */
  onRelease(b: Backend): void {
    const slot = this.slotOf.get(b);
    if (slot !== undefined) this.siftUp(this.heapIndex[slot]);
  }

  /** Strict order on slots: score (active + 1) / weight, then lastPick, then slot. */
  private less(a: number, b: number): boolean {
    const members = this.set.backends;
    const weights = this.set.weights;
    // (active_a + 1) / w_a < (active_b + 1) / w_b, without division (exact for integers).
    const x = (members[a].active + 1) * weights[b];
    const y = (members[b].active + 1) * weights[a];
    if (x !== y) return x < y;
    if (this.lastPick[a] !== this.lastPick[b]) return this.lastPick[a] < this.lastPick[b];
    return a < b;
  }

  private siftUp(k: number): void {
    const heap = this.heap;
    const slot = heap[k];
    while (k > 0) {
      const parent = (k - 1) >>> 1;
      if (!this.less(slot, heap[parent])) break;
      this.place(k, heap[parent]);
      k = parent;
    }
    this.place(k, slot);
  }

  private siftDown(k: number): void {
    const heap = this.heap;
    const n = heap.length;
    const slot = heap[k];
    for (;;) {
      let child = 2 * k + 1;
      if (child >= n) break;
      if (child + 1 < n && this.less(heap[child + 1], heap[child])) child++;
      if (!this.less(heap[child], slot)) break;
      this.place(k, heap[child]);
      k = child;
    }
    this.place(k, slot);
  }

  private place(k: number, slot: number): void {
    this.heap[k] = slot;
    this.heapIndex[slot] = k;
  }
}
