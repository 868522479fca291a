// One TCP session: a client and the backend it is spliced to. This file decides; a TcpPath
// (native-path.ts: the relay addon; portable-path.ts: net.Socket) only moves bytes and
// reports. The backend is dialled at accept (server-first protocols such as MySQL speak
// before the client does) and the client is not read until it is connected.
// Faults, the same on both paths:
// - a reset or socket error on one side resets the other (the path does it) and ends the
//   session as `client_reset` / `backend_reset`; lb's own errnos (EMFILE...) as local_error;
// - a backend that fails before any byte moved (accepted, then reset) is a failed connect:
//   retried elsewhere while attempts remain, else the client is reset (`connect_failed`);
// - local errors never count against a backend and are not retried;
// - idle and connect timeouts come from the listener's two sweeps, not a timer per session.
// Invariants: the first cause wins; the backend slot is held only while connected.
import type { Address, ListenerConfig } from '../../config/types.js';
import type { EndReason } from '../../log/end-reason.js';
import type { Pool } from '../../pool/pool.js';
import { ConnectAttempts } from '../../pool/connect-attempts.js';
import { isLocalError } from '../../local-errors.js';
import { Session, errorEnd, type SessionOwner } from '../session.js';

export interface TcpSessionOwner extends SessionOwner {
  readonly config: ListenerConfig;
  /** The session's connect attempt is over (it leaves the connect sweep's list). */
  connectDone(s: TcpSession): void;
  /** The session dials again (after a backend failed right after accepting). */
  connectAgain(s: TcpSession): void;
}

/** How one session's bytes move: the native relay or net.Sockets. */
export interface TcpPath {
  /** Connect to the backend; the outcome comes as onConnected() or onConnectFailed(). */
  dial(address: Address): void;
  /** Drop the connect attempt in flight (it timed out). */
  abort(): void;
  /** Start moving bytes (PROXY header first, when there is one). */
  splice(): void;
  /** Credit bytes moved since the last look; returns a number that changes with any movement. */
  progress(): number;
  /** A side whose read ended can fail unseen: look for its error (each sweep, half-closed only). */
  probe(): void;
  /** lb's address toward the backend, once connected. */
  localAddress(): string | null;
  /** Close both sockets now, with RST instead of FIN when `reset`; counters final after it. */
  close(reset: boolean): void;
  /** Bytes lb holds for each side, and state for tests and status. */
  readonly queuedToClient: number;
  readonly queuedToUpstream: number;
  readonly upstreamEof: boolean;
  readonly readingClient: boolean;
  /** The client side is finished both ways (its FIN read, lb's FIN to it sent). */
  readonly clientFinished: boolean;
}

/** Ends after which the client gets a reset, not a FIN: lb could not serve it as asked. */
const RESET_ENDS: ReadonlySet<EndReason> = new Set<EndReason>([
  'connect_failed', 'no_backend', 'local_error', 'error', 'client_reset', 'backend_reset',
]);

export class TcpSession extends Session {
  /** performance.now() when the current connect attempt began; the connect sweep reads it. */
  connectStartMs = 0;
  /** When the idle sweep last saw bytes move. */
  lastActiveMs = 0;
  private lastProgress = -1;
  private connected = false;
  private readonly attempts = new ConnectAttempts();
  private path: TcpPath | null = null;
  private readonly tcpOwner: TcpSessionOwner;

  constructor(owner: TcpSessionOwner, pool: Pool, clientIp: string, clientPort: number) {
    super(owner, pool, clientIp, clientPort, performance.now());
    this.tcpOwner = owner;
  }

  /** Begin with the path that moves this session's bytes: the first connect attempt. */
  start(path: TcpPath): void {
    this.path = path;
    this.dial();
  }

  get isEstablished(): boolean {
    return this.connected;
  }
  get isConnecting(): boolean {
    return !this.connected && !this.done;
  }
  get queuedToClient(): number {
    return this.done || this.path === null ? 0 : this.path.queuedToClient;
  }
  get queuedToUpstream(): number {
    return this.done || this.path === null ? 0 : this.path.queuedToUpstream;
  }
  get upstreamEof(): boolean {
    return !this.done && this.path !== null && this.path.upstreamEof;
  }
  get readingClient(): boolean {
    return !this.done && this.connected && this.path !== null && this.path.readingClient;
  }
  get clientFinished(): boolean {
    return !this.done && this.path !== null && this.path.clientFinished;
  }

  /** The data path could not take the client (the relay's fd copy failed: EMFILE...). */
  failStart(code: string): void {
    this.end(isLocalError(code) ? 'local_error' : 'error', code);
  }

  // --- connect ---

  private dial(): void {
    const b = this.attempts.next(this.pool, this);
    if (b === undefined) {
      this.end(this.attempts.exhausted, this.detail);
      return;
    }
    this.backend = b;
    this.connectStartMs = performance.now();
    this.path!.dial(b.address);
  }

  /** @internal from the path: the backend accepted. False when the session ended meanwhile. */
  onConnected(): boolean {
    if (this.done) return false;
    this.connected = true;
    // A failed earlier attempt's errno does not describe this session any more.
    this.detail = undefined;
    this.lastActiveMs = performance.now();
    this.lastProgress = -1;
    this.tcpOwner.connectDone(this);
    this.hold(this.backend!);
    if (this.done) return false; // on_down = close may end it at once
    if (this.owner.log.isLevelEnabled('info')) this.backendLocal = this.path!.localAddress();
    return true;
  }

  /**
   * @internal from the path: the attempt failed with `code` (also a backend that failed
   * right after accepting, before any byte moved). Retries while attempts remain.
   */
  onConnectFailed(code: string): void {
    if (this.done) return;
    if (this.connected) {
      this.connected = false;
      this.unhold();
      this.tcpOwner.connectAgain(this);
    }
    this.detail = code;
    if (isLocalError(code)) {
      this.end('local_error', code);
      return;
    }
    const b = this.backend!;
    this.pool.reportConnectFailure(b, code);
    if (this.done) return;
    if (this.attempts.failed(this.pool, b, code, this.owner.log)) this.dial();
    else this.end('connect_failed', code);
  }

  /** @internal the connect sweep: this attempt has taken longer than connect_timeout. */
  connectTimedOut(): void {
    if (!this.isConnecting) return;
    this.path!.abort();
    this.onConnectFailed('ETIMEDOUT');
  }

  // --- while connected ---

  /**
   * @internal from the path: the session is over. `code` null: both FINs passed on and every
   * byte delivered (`side` sent the first FIN); otherwise `side` failed with `code` and the
   * path has reset the other side.
   */
  onEnded(side: 'client' | 'backend', code: string | null): void {
    if (code === null) this.end(side === 'client' ? 'client_closed' : 'backend_closed', undefined);
    else this.end(errorEnd(side, code), code);
  }

  /** @internal the idle sweep: credits bytes; ends the session after `idleMs` without any. */
  idleCheck(now: number, idleMs: number): void {
    if (!this.connected || this.done) return;
    const p = this.path!.progress();
    if (p !== this.lastProgress) {
      this.lastProgress = p;
      this.lastActiveMs = now;
    } else if (now - this.lastActiveMs >= idleMs) {
      this.end('idle_timeout', undefined);
      return;
    }
    this.path!.probe();
  }

  /** Credit the bytes moved since the last look (status and metrics ask before they read). */
  syncCounters(): void {
    if (this.connected && !this.done) this.path!.progress();
  }

  protected release(reason: EndReason): void {
    this.path?.close(RESET_ENDS.has(reason));
  }
}
