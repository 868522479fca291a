// A token bucket per client IP for one route: `requests` tokens per `perMs`, at most `burst`.
// Invariants: the bucket map never holds more than MAX_BUCKETS entries; a bucket that has
// refilled to full is the same as no bucket, so idle ones are swept. take() is O(1) amortised.
import type { RateLimitConfig } from '../config/types.js';

/**
 * Upper bound on tracked clients per route. A bucket costs about 100 bytes (Map entry, key
 * string, two numbers), so the worst case is ~10 MB per limited route.
 */
export const MAX_BUCKETS = 100_000;

/** Sweep idle (full) buckets at most this often; between sweeps the map only grows by inserts. */
const SWEEP_INTERVAL_MS = 10_000;

interface Bucket {
  tokens: number;
  /** performance.now() of the last refill. */
  atMs: number;
}

export class RateLimiter {
  readonly config: RateLimitConfig;
  private readonly buckets = new Map<string, Bucket>();
  /** Tokens added per millisecond. */
  private readonly ratePerMs: number;
  /** Time for an empty bucket to refill: after this long untouched a bucket is full. */
  private readonly fullAfterMs: number;
  private readonly maxBuckets: number;
  private lastSweepMs: number;

  constructor(config: RateLimitConfig, maxBuckets = MAX_BUCKETS) {
    this.config = config;
    this.ratePerMs = config.requests / config.perMs;
    this.fullAfterMs = config.burst / this.ratePerMs;
    this.maxBuckets = maxBuckets;
    this.lastSweepMs = performance.now();
  }

  get size(): number {
    return this.buckets.size;
  }

  /**
   * Spend one token of `key`'s bucket. Returns 0 when the request may go on, otherwise the
   * whole seconds until a token is back (the Retry-After value, at least 1).
   */
  take(key: string, nowMs: number = performance.now()): number {
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= this.maxBuckets || nowMs - this.lastSweepMs >= SWEEP_INTERVAL_MS) this.sweep(nowMs);
      b = { tokens: this.config.burst, atMs: nowMs };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.config.burst, b.tokens + (nowMs - b.atMs) * this.ratePerMs);
      b.atMs = nowMs;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.ratePerMs / 1000));
  }

  /**
   * Drop buckets that are full by now (idle for fullAfterMs). If the map is still at its cap
   * (a flood of distinct clients), drop the oldest-inserted tenth: those clients restart with
   * a full bucket, which errs on the side of letting traffic through. O(n), at most once per
   * SWEEP_INTERVAL_MS or when the cap is hit.
   */
  private sweep(nowMs: number): void {
    this.lastSweepMs = nowMs;
    for (const [key, b] of this.buckets) if (nowMs - b.atMs >= this.fullAfterMs) this.buckets.delete(key);
    if (this.buckets.size < this.maxBuckets) return;
    let drop = Math.max(1, Math.ceil(this.maxBuckets / 10));
    for (const key of this.buckets.keys()) {
      this.buckets.delete(key);
      if (--drop === 0) break;
    }
  }
}
