// One TCP session on the native relay (tcp-relay.ts): the accepted client's fd and the
// backend socket are spliced in C++, and this object keeps what JavaScript decides: which
// backend, retries, timeouts, slots, counters and the access line. Same contract as the
// sessions on libuv handles (raw-session.ts), which are used when the addon is missing:
// - the backend is dialled at accept, and the client is not read until it is connected;
// - a FIN is passed on as a FIN, a reset as a reset; the session ends once both FINs are
//   read and every byte is written;
// - idle and connect timeouts are checked by the listener's sweeps; the idle sweep also
//   credits the bytes moved since the last look to the backend's and listener's counters.
// Invariants: a session ends once and the first EndReason wins; slots are released exactly
// once; nothing runs here per chunk.
import { lookup } from 'node:dns';
import type { Backend } from '../../pool/backend.js';
import type { Pool } from '../../pool/pool.js';
import { ConnectAttempts } from '../../pool/connect-attempts.js';
import type { EndReason } from '../../log/end-reason.js';
import { logSessionEnd } from '../../log/access.js';
import { formatHostPort } from '../admission.js';
import { errname, proxyHeaderFor, type TcpHandle } from './raw-handles.js';
import {
  EV_CONNECTED, EV_CONNECT_FAILED, FLAG_CLIENT_EOF, FLAG_CLIENT_SHUT, FLAG_CONNECTED, FLAG_UPSTREAM_EOF, SIDE_CLIENT,
  ST_ACTIVITY, ST_BYTES_IN, ST_BYTES_OUT, ST_FLAGS, ST_HELD_CLIENT, ST_HELD_UP, type RelayOwner, type TcpRelay,
} from './tcp-relay.js';
import type { TcpListener } from './tcp-listener.js';

function isPeerGone(code: string): boolean {
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED';
}

export class NativeTcpSession implements RelayOwner {
  readonly clientIp: string;
  readonly clientPort: number;
  /** The client's address as accepted (IPv4-mapped form kept), for the PROXY header. */
  private readonly peerAddress: string;
  private readonly client: TcpHandle;
  private id = -1;
  backend: Backend | null = null;
  /** Connect attempts: how many, and the backends that failed for this client. */
  private readonly attempts = new ConnectAttempts();
  /** performance.now() when the current connect attempt began; the connect sweep reads it. */
  connectStartMs = 0;
  private connected = false;
  private done = false;
  /** The relay has ended the session itself (its sockets are closed already). */
  private relayDone = false;
  /** The relay's activity count at the idle sweep's last look, and when it last changed. */
  private activity = 0;
  lastActiveMs = 0;
  private reason: EndReason | null = null;
  private detail: string | undefined = undefined;
  private readonly startMs: number;
  /** Bytes moved as far as this object has seen (credited to backend and listener). */
  private inSeen = 0;
  private outSeen = 0;
  private backendLocal: string | null = null;
  private readonly listener: TcpListener;
  private readonly pool: Pool;
  private readonly relay: TcpRelay;

  constructor(relay: TcpRelay, listener: TcpListener, client: TcpHandle, ip: string, port: number, peerAddress: string) {
    this.relay = relay;
    this.listener = listener;
    this.pool = listener.pool;
    this.client = client;
    this.clientIp = ip;
    this.clientPort = port;
    this.peerAddress = peerAddress;
    this.startMs = performance.now();
  }

  start(): void {
    const pp = this.listener.config.proxyProtocol;
    try {
      this.id = this.relay.open(this, this.client.fd, pp === 'off' ? null : proxyHeaderFor(this.client, this.peerAddress, this.clientPort, pp));
    } catch (err) {
      this.relayDone = true;
      this.finish('error', (err as NodeJS.ErrnoException).code ?? 'EINVAL');
      return;
    }
    this.dial();
  }

  close(reason: EndReason, detail?: string): void {
    this.finish(reason, detail);
  }

  /** Bytes client → backend and back (brought up to date from the relay). */
  get bytesIn(): number {
    this.syncCounters();
    return this.inSeen;
  }
  get bytesOut(): number {
    this.syncCounters();
    return this.outSeen;
  }

  get isEstablished(): boolean {
    return this.connected;
  }

  get isConnecting(): boolean {
    return !this.connected && !this.done;
  }

  /** Bytes lb holds for the client and for the backend. */
  get queuedToClient(): number {
    return this.done ? 0 : this.relay.stats(this.id)[ST_HELD_CLIENT]!;
  }
  get queuedToUpstream(): number {
    return this.done ? 0 : this.relay.stats(this.id)[ST_HELD_UP]!;
  }
  /** The backend's FIN has been read. */
  get upstreamEof(): boolean {
    return !this.done && (this.relay.stats(this.id)[ST_FLAGS]! & FLAG_UPSTREAM_EOF) !== 0;
  }
  /** lb reads the client (it is not held back by a full upstream). */
  get readingClient(): boolean {
    if (this.done) return false;
    const st = this.relay.stats(this.id);
    return (st[ST_FLAGS]! & (FLAG_CONNECTED | FLAG_CLIENT_EOF)) === FLAG_CONNECTED && st[ST_HELD_UP]! < this.relay.heldMax;
  }
  /** Both directions of the client side are finished (its FIN read, ours sent). */
  get clientFinished(): boolean {
    if (this.done) return false;
    const f = this.relay.stats(this.id)[ST_FLAGS]!;
    return (f & FLAG_CLIENT_EOF) !== 0 && (f & FLAG_CLIENT_SHUT) !== 0;
  }

  /** @internal from the relay */
  relayEvent(event: number, a: number, b: number): void {
    if (event === EV_CONNECTED) this.connectDone();
    else if (event === EV_CONNECT_FAILED) this.connectFailed(errname(a));
    else this.relayEnded(a, b);
  }

  // --- connect ---

  private dial(): void {
    const b = this.attempts.next(this.pool, this);
    if (b === undefined) {
      this.finish(this.attempts.exhausted, this.detail);
      return;
    }
    this.backend = b;
    this.connectStartMs = performance.now();
    const a = b.address;
    if (a.family === 0) {
      // A hostname: resolved per connect, as net.connect would.
      const attempt = this.attempts.count;
      lookup(a.host, (err, address, family) => {
        if (this.done || this.attempts.count !== attempt) return;
        if (err) this.connectFailed(err.code ?? 'ENOTFOUND');
        else this.connectTo(family === 6 ? 6 : 4, address, a.port);
      });
    } else {
      this.connectTo(a.family, a.host, a.port);
    }
  }

  private connectTo(family: 4 | 6, host: string, port: number): void {
    const err = this.relay.dial(this.id, family, host, port);
    if (err !== 0) this.connectFailed(errname(err));
  }

  private connectDone(): void {
    if (this.done) return;
    this.connected = true;
    this.detail = undefined;
    this.lastActiveMs = performance.now();
    this.listener.connected(this);
    this.pool.acquire(this.backend!, this);
    if (this.done) return;
    if (this.listener.log.isLevelEnabled('info')) {
      const local = this.relay.local(this.id);
      if (local !== null) this.backendLocal = formatHostPort(local[0], local[1]);
    }
  }

  /** @internal the connect sweep: this attempt has taken longer than connect_timeout. */
  connectTimedOut(): void {
    if (this.isConnecting) this.connectFailed('ETIMEDOUT');
  }

  private connectFailed(code: string): void {
    const b = this.backend!;
    // A timed-out attempt is still in flight: drop it before the next one (whose dial may
    // wait for a lookup), so that its late connect cannot pass for the next attempt's.
    if (!this.done) this.relay.abort(this.id);
    this.detail = code;
    this.pool.reportConnectFailure(b, code);
    if (this.done) return;
    if (this.attempts.failed(this.pool, b, code, this.listener.log)) this.dial();
    else this.finish('connect_failed', code);
  }

  // --- sweeps and counters ---

  /** @internal the idle sweep: credits bytes, ends the session when nothing moved for `idleMs`. */
  idleCheck(now: number, idleMs: number): void {
    if (!this.connected || this.done) return;
    const st = this.relay.stats(this.id);
    this.credit(st);
    const activity = st[ST_ACTIVITY]!;
    if (activity !== this.activity) {
      this.activity = activity;
      this.lastActiveMs = now;
    } else if (now - this.lastActiveMs >= idleMs) {
      this.finish('idle_timeout', undefined);
    }
  }

  /** Credit the bytes moved since the last look (status and metrics ask before they read). */
  syncCounters(): void {
    if (this.connected && !this.done) this.credit(this.relay.stats(this.id));
  }

  private credit(st: Float64Array): void {
    const dIn = st[ST_BYTES_IN]! - this.inSeen;
    const dOut = st[ST_BYTES_OUT]! - this.outSeen;
    if (dIn === 0 && dOut === 0) return;
    this.inSeen += dIn;
    this.outSeen += dOut;
    const b = this.backend!;
    b.bytesIn += dIn;
    b.bytesOut += dOut;
    this.listener.bytesIn += dIn;
    this.listener.bytesOut += dOut;
  }

  // --- the end ---

  /** The relay ended the session: both FINs passed on (b = 0), or a socket failed. */
  private relayEnded(side: number, status: number): void {
    this.relayDone = true;
    if (status === 0) {
      this.finish(side === SIDE_CLIENT ? 'client_closed' : 'backend_closed', undefined);
      return;
    }
    const code = errname(status);
    const reason: EndReason = isPeerGone(code) ? (side === SIDE_CLIENT ? 'client_closed' : 'backend_closed') : 'error';
    this.finish(reason, code);
  }

  /** The one place a session ends: close what is open, release slots, write the access line. */
  private finish(reason: EndReason, detail: string | undefined): void {
    if (this.done) return;
    // The relay's last counters: filled by close(), or by the relay before it said "ended".
    const st = this.relayDone ? this.relay.last : this.relay.close(this.id);
    this.done = true;
    this.reason ??= reason;
    this.detail ??= detail;
    if (this.connected) this.credit(st);
    this.client.close();
    if (this.connected) this.pool.release(this.backend!, this);
    this.listener.sessionEnded(this);
    logSessionEnd(this.listener.log, this, this.backendLocal, this.startMs, this.reason!, this.detail);
  }
}
