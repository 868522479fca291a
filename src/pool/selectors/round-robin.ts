// Smooth weighted round-robin, the exact sequence of NGINX's ngx_http_upstream_get_peer()
// (src/http/ngx_http_upstream_round_robin.c): each pick adds every weight to its backend's
// current weight, takes the largest (first on ties) and subtracts the total from it.
// With integer weights the sequence repeats every W = Σweight/gcd picks, every backend taking
// exactly weight/gcd of them, so update() precomputes one period (O(n·W), bounded below) and
// pick() is O(1). Equal weights are plain rotation, O(n) to build. Past the bounds, or with
// fractional weights, pick() steps NGINX's state live: O(n) per pick, as NGINX does.
import assert from 'node:assert/strict';
import type { Backend } from '../backend.js';
import type { PickContext, Selector } from './selector.js';
import { WeightedSet } from './weighted-set.js';

/** Longest period precomputed: 2^16 picks, 256 KiB of indices (e.g. weights 70000:1 exceed it). */
const MAX_PERIOD = 1 << 16;
/**
 * Most backend visits (n·W) spent simulating a period: 2^22, about 25 ms measured here.
 * update() runs on every health change, so e.g. 2,000 backends with weights 1–7 (n·W ≈ 16M)
 * would block the event loop for too long; such pools use the live O(n) step instead.
 */
const MAX_BUILD_STEPS = 1 << 22;

/**
 * One NGINX step: mutates `current` and returns the chosen index. `weights` must be non-empty.
 * O(n).
 */
function smoothStep(current: Float64Array, weights: Float64Array): number {
  let total = 0;
  let best = 0;
  for (let i = 0; i < weights.length; i++) {
    current[i] += weights[i];
    total += weights[i];
    if (current[i] > current[best]) best = i;
  }
  current[best] -= total;
  return best;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * One period of the smooth sequence as indices, or an empty array when the weights are not
 * all integers or the period is too long or too costly to simulate. O(n·W); O(n) when equal.
 */
function buildPeriod(weights: Float64Array): Uint32Array {
  let g = 0;
  for (const w of weights) {
    if (!Number.isSafeInteger(w)) return new Uint32Array(0);
    g = gcd(w, g);
  }
  let period = 0;
  for (const w of weights) period += w / g;
  // All weights equal: NGINX's ties go to the first backend, so the sequence is 0, 1, …, n − 1.
  if (period === weights.length) return Uint32Array.from(weights.keys());
  if (period > MAX_PERIOD || period * weights.length > MAX_BUILD_STEPS) return new Uint32Array(0);
  // Scaling every weight by 1/g scales every current weight by 1/g: same choices, shorter period.
  const scaled = weights.map((w) => w / g);
  const current = new Float64Array(weights.length);
  const out = new Uint32Array(period);
  for (let k = 0; k < period; k++) out[k] = smoothStep(current, scaled);
  // After W picks each backend was chosen weight times: current = W·w − W·w = 0, so it repeats.
  assert.ok(
    current.every((c) => c === 0),
    'smooth round-robin period did not return to zero',
  );
  return out;
}

/**
 * Round-robin selector (SPEC `round-robin`). Equal weights give plain rotation.
 * A retry (`avoid` non-empty) gets the first backend of the upcoming sequence that is not in
 * `avoid`, without consuming a turn, so other sessions see an unchanged sequence. That path
 * is O(n + k), k = consecutive turns of avoided backends (at most one period).
 */
export class RoundRobinSelector implements Selector {
  private readonly set = new WeightedSet();
  /** One period of the sequence (indices into set.backends); empty in live mode. */
  private period: Uint32Array = new Uint32Array(0);
  /** Next position in `period`. */
  private cursor = 0;
  /** NGINX's current_weight per backend, stepped by pick() in live mode only. */
  private current = new Float64Array(0);
  /** Copy of `current` stepped ahead by the live-mode retry path. */
  private scratch = new Float64Array(0);

  /**
   * `random` (values in [0, 1)) chooses where a new sequence starts, so a fleet of balancers
   * does not send its first sessions to the same backend (Envoy seeds its round-robin start
   * for the same reason). Inject a seeded one, or `() => 0`, for a reproducible sequence.
   */
  constructor(private readonly random: () => number = Math.random) {}

  /**
   * Rebuilds the sequence when the set or a weight changed; otherwise keeps the rotation.
   * O(n·W), capped at MAX_BUILD_STEPS backend visits; O(n) for equal weights.
   */
  update(backends: readonly Backend[]): void {
    if (!this.set.assign(backends)) return;
    const { backends: members, weights } = this.set;
    const n = members.length;
    this.period = buildPeriod(weights);
    this.current = new Float64Array(n);
    this.scratch = new Float64Array(n);
    this.cursor = 0;
    // Live mode starts up to n steps in, fewer when n² would exceed the build budget.
    const span = this.period.length > 0 ? this.period.length : Math.min(n, Math.floor(MAX_BUILD_STEPS / n));
    const start = Math.min(Math.floor(this.random() * span), Math.max(span - 1, 0));
    if (this.period.length > 0) this.cursor = start;
    else for (let k = 0; k < start; k++) smoothStep(this.current, weights);
  }

  /** The next backend in the smooth sequence. O(1) with a precomputed period; `ctx` unused. */
  pick(_ctx: PickContext, avoid: ReadonlySet<Backend> | null): Backend | undefined {
    const members = this.set.backends;
    if (members.length === 0) return undefined;
    if (avoid !== null && avoid.size > 0) return this.pickAvoiding(avoid);
    const period = this.period;
    if (period.length === 0) return members[smoothStep(this.current, this.set.weights)];
    const i = period[this.cursor];
    this.cursor = this.cursor + 1 === period.length ? 0 : this.cursor + 1;
    return members[i];
  }

  private pickAvoiding(avoid: ReadonlySet<Backend>): Backend | undefined {
    const members = this.set.backends;
    if (this.set.allIn(avoid)) return undefined;
    // Every backend appears in the sequence within one period, so both loops end.
    const period = this.period;
    if (period.length > 0) {
      for (let k = this.cursor; ; k = k + 1 === period.length ? 0 : k + 1) {
        const b = members[period[k]];
        if (!avoid.has(b)) return b;
      }
    }
    this.scratch.set(this.current);
    for (;;) {
      const b = members[smoothStep(this.scratch, this.set.weights)];
      if (!avoid.has(b)) return b;
    }
  }
}
