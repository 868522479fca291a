// The session core every data path shares (TCP native and portable, UDP native and
// portable): the backend slot held and released once, bytes credited to the session, its
// backend and its listener, the first cause of the end, and the one access line. A session
// knows its listener only as a SessionOwner (undici's dispatch-handler shape, and the http
// module's ExchangeOwner), so no session module imports a listener.
// Invariants: end() runs its tail once; the first recorded reason is the one logged.
import type { Backend } from '../pool/backend.js';
import type { Pool } from '../pool/pool.js';
import type { Logger } from '../log/logger.js';
import type { EndReason } from '../log/end-reason.js';
import { logSessionEnd } from '../log/access.js';
import { countLocalError, isLocalError } from '../local-errors.js';

/** What a session needs of the listener that accepted it. */
export interface SessionOwner {
  /** The listener's child logger. */
  readonly log: Logger;
  /** Bytes through the listener, client → backend and back: sessions add theirs. */
  bytesIn: number;
  bytesOut: number;
  /** Once per session, at its end (before the access line). */
  sessionEnded(s: Session): void;
}

/** A socket error on one side: lb's own failure, or that side's reset (any other errno). */
export function errorEnd(side: 'client' | 'backend', code: string): EndReason {
  if (isLocalError(code)) return 'local_error';
  return side === 'client' ? 'client_reset' : 'backend_reset';
}

export abstract class Session {
  backend: Backend | null = null;
  bytesIn = 0;
  bytesOut = 0;
  protected done = false;
  /** lb's own address toward the backend, for the access line (what the database logs). */
  protected backendLocal: string | null = null;
  /** The errno or detail behind the end (cleared when an earlier attempt's no longer applies). */
  protected detail: string | undefined = undefined;
  private reason: EndReason | null = null;
  /** The backend's slot is held: acquire() ... release(), once each. */
  private holding = false;

  constructor(
    protected readonly owner: SessionOwner,
    /** The pool at accept time; a reload may point the listener at another one meanwhile. */
    protected readonly pool: Pool,
    readonly clientIp: string,
    readonly clientPort: number,
    protected readonly startMs: number,
  ) {}

  /** End now with `reason` (drain deadline, shutdown, on_down = close, a timeout). */
  close(reason: EndReason, detail?: string): void {
    this.end(reason, detail);
  }

  /** Record the first decisive cause (a reset, an error) before the end itself comes. */
  protected cause(reason: EndReason, detail: string | undefined): void {
    this.reason ??= reason;
    this.detail ??= detail;
  }

  /** @internal bytes moved: to the session, its backend and its listener. */
  credit(dIn: number, dOut: number): void {
    this.bytesIn += dIn;
    this.bytesOut += dOut;
    const b = this.backend!;
    b.bytesIn += dIn;
    b.bytesOut += dOut;
    this.owner.bytesIn += dIn;
    this.owner.bytesOut += dOut;
  }

  /** Take the backend's slot (pool counters, on_down bookkeeping). */
  protected hold(b: Backend): void {
    this.holding = true;
    this.pool.acquire(b, this);
  }

  /** Give the slot back; a no-op when none is held. */
  protected unhold(): void {
    if (!this.holding) return;
    this.holding = false;
    this.pool.release(this.backend!, this);
  }

  /** The one place a session ends: sockets closed, slot released, owner told, one line. */
  protected end(reason: EndReason, detail: string | undefined): void {
    if (this.done) return;
    this.done = true;
    this.reason ??= reason;
    this.detail ??= detail;
    const why = this.reason;
    if (why === 'local_error') countLocalError(this.detail ?? 'UNKNOWN');
    this.release(why);
    this.unhold();
    this.owner.sessionEnded(this);
    logSessionEnd(this.owner.log, this, this.backendLocal, this.startMs, why, this.detail, this.accessExtra());
  }

  /** Close the data path's sockets; counters must be final when it returns. */
  protected abstract release(reason: EndReason): void;

  /** Extra access-line fields (UDP: datagram counts). */
  protected accessExtra(): { packets_in: number; packets_out: number } | undefined {
    return undefined;
  }
}
