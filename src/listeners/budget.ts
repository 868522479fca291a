// The global connection budget shared by every listener ([global] max_connections).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';

export class ConnectionBudget {
  active = 0;
  constructor(public max: number) {}

  /** Take one slot; false when the budget is spent. */
  tryAcquire(): boolean {
    if (this.active >= this.max) return false;
    this.active++;
    return true;
  }

  release(): void {
    this.active--;
    assert.ok(this.active >= 0, 'global connection budget went negative');
  }
}

/**
 * lb's own descriptor budget (RLIMIT_NOFILE). Sessions take their descriptors from it at
 * admission (TCP two, UDP one), so that a flood of clients is refused by lb, counted and
 * logged as lb's own limit (`local_error`, EMFILE) before accept(), dial() or a health probe
 * meets EMFILE, and a reserve stays free for the admin API, health probes and logs. The
 * descriptors open outside sessions (the runtime's, the listeners') are counted once per
 * listen() from /proc/self/fd. Where the limit cannot be read (not Linux), nothing is
 * refused here and EMFILE itself is handled where it happens.
 */
export class FdBudget {
  /** The soft limit (Node raises it to the hard limit at start), or Infinity when unknown. */
  readonly limit: number;
  /** Descriptors kept free for everything that is not a session. */
  readonly reserve: number;
  /** Descriptors held by sessions. */
  inUse = 0;
  /** Descriptors open outside sessions, as last measured. */
  private base = 0;

  constructor(limit = readNofileLimit()) {
    this.limit = limit;
    this.reserve = Number.isFinite(limit) ? Math.max(32, Math.floor(limit / 20)) : 0;
  }

  /** Re-measure the descriptors open outside sessions (at listen, not per session). */
  measure(): void {
    if (!Number.isFinite(this.limit)) return;
    try {
      this.base = Math.max(0, readdirSync('/proc/self/fd').length - this.inUse);
    } catch {
      this.base = 0;
    }
  }

  /** Take `n` descriptors for a session; false when that would eat into the reserve. */
  tryTake(n: number): boolean {
    if (this.base + this.inUse + n > this.limit - this.reserve) return false;
    this.inUse += n;
    return true;
  }

  give(n: number): void {
    this.inUse -= n;
  }
}

function readNofileLimit(): number {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m === null ? Infinity : Number(m[1]);
  } catch {
    return Infinity;
  }
}

/** The process's one descriptor budget (workers are processes: one each). */
export const fdBudget = new FdBudget();
