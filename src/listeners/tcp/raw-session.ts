// One TCP session on bare libuv handles (raw-handles.ts): the accepted client handle spliced
// to one upstream handle. Same contract as the net.Socket session (tcp-session.ts), which is
// the fallback when the bindings are missing:
// - the backend is dialled at accept, and the client is not read until it is connected;
// - bytes are copied out of the shared read buffer (into recycled 64 KiB slabs for big
//   reads, read-buffer.ts) and written on; when lb holds more than
//   HIGH_WATER bytes for one side, the other side is not read until that drains;
// - a FIN is passed on as a FIN (shutdown) while the other direction keeps flowing; the
//   session ends once both FINs have been passed on; a reset is passed on as a reset;
// - idle and connect timeouts are checked by the listener's sweeps (no timer per session):
//   any read or completed write marks the session active.
// Invariants: a session ends once and the first EndReason wins; slots are released exactly
// once; per chunk: one copy, one write request, three counter increments, nothing else.
import { lookup } from 'node:dns';
import type { Backend } from '../../pool/backend.js';
import type { Pool } from '../../pool/pool.js';
import { ConnectAttempts } from '../../pool/connect-attempts.js';
import type { EndReason } from '../../log/end-reason.js';
import { logSessionEnd } from '../../log/access.js';
import { formatHostPort } from '../admission.js';
import { readBuffer, takeChunk, releaseChunk } from './read-buffer.js';
import { UV_EOF, errname, proxyHeaderFor, type RawTcp, type Req, type TcpHandle } from './raw-handles.js';
import type { TcpListener } from './tcp-listener.js';

/** Bytes lb holds for one peer before it stops reading the other (libuv's write queue). */
export const HIGH_WATER = 64 * 1024;
const EMPTY = Buffer.alloc(0);

const kSession = Symbol('lb.rawSession');
/** The write request object reused by writes that complete at once (see write()). */
let spareWriteReq: Req | null = null;
type Linked = TcpHandle & { [kSession]?: RawTcpSession };

function isPeerGone(code: string): boolean {
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED';
}

export class RawTcpSession {
  readonly clientIp: string;
  readonly clientPort: number;
  /** The client's address as accepted (IPv4-mapped form kept), for the PROXY header. */
  private readonly peerAddress: string;
  private readonly client: Linked;
  private upstream: Linked | null = null;
  backend: Backend | null = null;
  /** Connect attempts: how many, and the backends that failed for this client. */
  private readonly attempts = new ConnectAttempts();
  /** performance.now() when the current connect attempt began; the connect sweep reads it. */
  connectStartMs = 0;
  private connected = false;
  private done = false;
  private clientPaused = false;
  private upstreamPaused = false;
  private clientEof = false;
  private upstreamEof = false;
  /** Our FIN to that side: requested, and sent. */
  private clientShutAsked = false;
  private upstreamShutAsked = false;
  private clientShut = false;
  private upstreamShut = false;
  /** Handles already closed by a reset (closed once, never again). */
  private clientGone = false;
  private upstreamGone = false;
  /** Set by every read and completed write; the idle sweep clears it. */
  active = false;
  lastActiveMs = 0;
  private reason: EndReason | null = null;
  private firstFin: EndReason | null = null;
  private detail: string | undefined = undefined;
  private readonly startMs: number;
  bytesIn = 0;
  bytesOut = 0;
  private backendLocal: string | null = null;
  private readonly listener: TcpListener;
  private readonly pool: Pool;
  private readonly R: RawTcp;

  constructor(R: RawTcp, listener: TcpListener, client: TcpHandle, ip: string, port: number, peerAddress: string) {
    this.R = R;
    this.listener = listener;
    this.pool = listener.pool;
    this.client = client as Linked;
    this.client[kSession] = this;
    this.clientIp = ip;
    this.clientPort = port;
    this.peerAddress = peerAddress;
    this.startMs = performance.now();
  }

  start(): void {
    this.dial();
  }

  close(reason: EndReason, detail?: string): void {
    this.finish(reason, detail);
  }

  get isEstablished(): boolean {
    return this.connected;
  }

  get isConnecting(): boolean {
    return !this.connected && !this.done;
  }

  /** Bytes lb holds for the client and for the backend (libuv write queues). */
  get queuedToClient(): number {
    return this.clientGone ? 0 : this.client.writeQueueSize;
  }
  get queuedToUpstream(): number {
    return this.upstream === null || this.upstreamGone ? 0 : this.upstream.writeQueueSize;
  }
  /** lb reads the client (it is not held back by a full upstream). */
  get readingClient(): boolean {
    return this.connected && !this.clientPaused && !this.clientEof;
  }
  /** Both directions of the client side are finished (its FIN read, ours flushed). */
  get clientFinished(): boolean {
    return this.clientEof && this.clientShut;
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
    const up = this.R.newSocket() as Linked;
    up[kSession] = this;
    this.upstream = up;
    this.upstreamGone = false;
    const a = b.address;
    if (a.family === 0) {
      // A hostname: resolved per connect, as net.connect would.
      lookup(a.host, (err, address, family) => {
        if (this.done || this.upstream !== up) return;
        if (err) this.connectFailed(err.code ?? 'ENOTFOUND');
        else this.connectTo(up, address, family, a.port);
      });
    } else {
      this.connectTo(up, a.host, a.family, a.port);
    }
  }

  private connectTo(up: Linked, host: string, family: number, port: number): void {
    const req = this.R.newConnectReq();
    req.oncomplete = afterConnect;
    const err = family === 6 ? up.connect6(req, host, port) : up.connect(req, host, port);
    if (err !== 0) {
      this.connectFailed(errname(err));
      return;
    }
    // Reading is asked for with the connect, so libuv registers the socket with epoll once for
    // both (instead of once for the connect and twice more for the read: an ADD that fails
    // with EEXIST, then a MOD). libuv completes the connect before it reads, so no data can
    // arrive before connectDone.
    up.useUserBuffer(readBuffer());
    up.onread = upstreamRead;
    up.readStart();
  }

  /** @internal from afterConnect */
  connectDone(up: Linked, status: number): void {
    if (this.done || this.upstream !== up) return;
    if (status < 0) {
      this.connectFailed(errname(status));
      return;
    }
    const client = this.client;
    this.connected = true;
    this.detail = undefined;
    this.lastActiveMs = performance.now();
    this.listener.connected(this);
    this.pool.acquire(this.backend!, this);
    if (this.done) return;
    if (this.listener.log.isLevelEnabled('info')) {
      const out: Record<string, unknown> = {};
      if (up.getsockname(out) === 0) this.backendLocal = formatHostPort(String(out['address'] ?? ''), Number(out['port'] ?? 0));
    }
    up.setNoDelay(true);
    client.useUserBuffer(readBuffer());
    client.onread = clientRead;
    const pp = this.listener.config.proxyProtocol;
    if (pp !== 'off') this.write(up, proxyHeaderFor(this.client, this.peerAddress, this.clientPort, pp));
    client.readStart();
  }

  /** @internal the idle sweep: ends the session when nothing moved for `idleMs`. */
  idleCheck(now: number, idleMs: number): void {
    if (!this.connected || this.done) return;
    if (this.active) {
      this.active = false;
      this.lastActiveMs = now;
    } else if (now - this.lastActiveMs >= idleMs) {
      this.finish('idle_timeout', undefined);
    }
  }

  /** @internal the connect sweep: this attempt has taken longer than connect_timeout. */
  connectTimedOut(): void {
    if (this.isConnecting && this.upstream !== null) this.connectFailed('ETIMEDOUT');
  }

  private connectFailed(code: string): void {
    const up = this.upstream;
    const b = this.backend!;
    if (up !== null) {
      delete up[kSession];
      up.close();
      this.upstream = null;
    }
    this.detail = code;
    this.pool.reportConnectFailure(b, code);
    if (this.done) return;
    if (this.attempts.failed(this.pool, b, code, this.listener.log)) this.dial();
    else this.finish('connect_failed', code);
  }

  // --- the splice ---

  /** @internal n bytes from the client are in the shared read buffer. */
  fromClient(n: number): void {
    const chunk = takeChunk(n);
    this.active = true;
    this.bytesIn += n;
    this.backend!.bytesIn += n;
    this.listener.bytesIn += n;
    const up = this.upstream!;
    if (this.write(up, chunk) && up.writeQueueSize > HIGH_WATER) {
      this.client.readStop();
      this.clientPaused = true;
    }
  }

  /** @internal n bytes from the backend are in the shared read buffer. */
  fromUpstream(n: number): void {
    const chunk = takeChunk(n);
    this.active = true;
    this.bytesOut += n;
    this.backend!.bytesOut += n;
    this.listener.bytesOut += n;
    const client = this.client;
    if (this.write(client, chunk) && client.writeQueueSize > HIGH_WATER) {
      this.upstream!.readStop();
      this.upstreamPaused = true;
    }
  }

  /** Write `chunk` to `h`; false when the write failed (the session is ending then). */
  private write(h: Linked, chunk: Buffer): boolean {
    const R = this.R;
    // Node binds the request object to a libuv write only when the write has to be queued;
    // a write the kernel takes at once leaves it untouched, so one spare serves every such
    // write and a new one is made only after a queued write took the spare.
    const req = (spareWriteReq ??= R.newWriteReq());
    const err = h.writeBuffer(req, chunk);
    if (err !== 0) {
      releaseChunk(chunk);
      this.peerFailed(h, err);
      return false;
    }
    if (R.state[R.kLastWriteWasAsync] !== 0) {
      // Queued in libuv: the buffer must live (and not be recycled) until the write completes.
      // libuv completes it on a later loop turn, after these fields are set.
      spareWriteReq = null;
      req.handle = h;
      req.oncomplete = afterWrite;
      req.buffer = chunk;
    } else {
      releaseChunk(chunk);
    }
    return true;
  }

  /** @internal a queued write to `h` completed. */
  wrote(h: Linked, status: number): void {
    if (status < 0) {
      this.peerFailed(h, status);
      return;
    }
    this.active = true;
    if (h === this.upstream) {
      if (this.clientPaused && h.writeQueueSize <= HIGH_WATER / 2) {
        this.clientPaused = false;
        if (!this.clientEof) this.client.readStart();
      }
    } else if (this.upstreamPaused && h.writeQueueSize <= HIGH_WATER / 2) {
      this.upstreamPaused = false;
      if (!this.upstreamEof) this.upstream?.readStart();
    }
  }

  // --- half-close: a FIN is passed on; the other direction keeps flowing ---
  // libuv reports a RST that arrives behind unread bytes as data then end-of-file. A
  // zero-length write to the side that sent the FIN surfaces the pending ECONNRESET; only
  // when it succeeds is the FIN a real half-close, and it is passed on.

  /** @internal the client's read ended: FIN (UV_EOF) or an error. */
  clientReadEnded(status: number): void {
    if (status !== UV_EOF) {
      this.peerFailed(this.client, status);
      return;
    }
    this.clientEof = true;
    this.firstFin ??= 'client_closed';
    // (A side we have already sent our FIN to cannot be written: no probe there.)
    if (!this.clientShutAsked && !this.write(this.client, EMPTY)) return;
    if (this.closeIfBothEnded()) return;
    this.upstreamShutAsked = true;
    this.shutdown(this.upstream!);
  }

  /** @internal the backend's read ended: FIN (UV_EOF) or an error. */
  upstreamReadEnded(status: number): void {
    const up = this.upstream!;
    if (status !== UV_EOF) {
      this.peerFailed(up, status);
      return;
    }
    this.upstreamEof = true;
    this.firstFin ??= 'backend_closed';
    if (!this.upstreamShutAsked && !this.write(up, EMPTY)) return;
    if (this.closeIfBothEnded()) return;
    this.clientShutAsked = true;
    this.shutdown(this.client);
  }

  /**
   * Both FINs read and nothing left in libuv's queue either way: the session is over, and
   * close() itself sends the FIN still owed, behind whatever the kernel holds (no unread
   * bytes remain, so it is a FIN, not a reset). This skips the last shutdown request: one
   * system call and an epoll change per connection.
   */
  private closeIfBothEnded(): boolean {
    if (!this.clientEof || !this.upstreamEof || this.client.writeQueueSize !== 0 || this.upstream!.writeQueueSize !== 0) return false;
    this.finish(this.firstFin ?? 'client_closed', undefined);
    return true;
  }

  private shutdown(h: Linked): void {
    const req = this.R.newShutdownReq();
    req.handle = h;
    req.oncomplete = afterShutdown;
    const err = h.shutdown(req);
    if (err !== 0) this.peerFailed(h, err);
  }

  /** @internal our FIN to `h` has been sent (after everything queued before it). */
  shutDown(h: Linked, status: number): void {
    if (status < 0 && status !== UV_EOF) {
      this.peerFailed(h, status);
      return;
    }
    this.active = true;
    if (h === this.client) this.clientShut = true;
    else this.upstreamShut = true;
    if (this.clientEof && this.upstreamEof && this.clientShut && this.upstreamShut) this.finish(this.firstFin ?? 'client_closed', undefined);
  }

  // --- errors and resets: a reset on one side is passed on as a reset on the other ---

  private peerFailed(h: Linked, status: number): void {
    if (this.done) return;
    const code = errname(status);
    const fromClient = h === this.client;
    const gone = isPeerGone(code);
    this.reason ??= gone ? (fromClient ? 'client_closed' : 'backend_closed') : 'error';
    this.detail ??= code;
    if (code === 'ECONNRESET' && this.connected) {
      if (fromClient) this.resetUpstream();
      else this.resetClient();
    }
    this.finish(this.reason, this.detail);
  }

  private resetClient(): void {
    if (this.clientGone) return;
    this.clientGone = true;
    delete this.client[kSession];
    this.client.reset();
  }

  private resetUpstream(): void {
    const up = this.upstream;
    if (up === null || this.upstreamGone) return;
    this.upstreamGone = true;
    delete up[kSession];
    up.reset();
  }

  /** The one place a session ends: close what is open, release slots, write the access line. */
  private finish(reason: EndReason, detail: string | undefined): void {
    if (this.done) return;
    this.done = true;
    this.reason ??= reason;
    this.detail ??= detail;
    if (!this.clientGone) {
      this.clientGone = true;
      delete this.client[kSession];
      this.client.close();
    }
    const up = this.upstream;
    if (up !== null && !this.upstreamGone) {
      this.upstreamGone = true;
      delete up[kSession];
      up.close();
    }
    if (this.connected) this.pool.release(this.backend!, this);
    this.listener.sessionEnded(this);
    logSessionEnd(this.listener.log, this, this.backendLocal, this.startMs, this.reason!, this.detail);
  }
}

// Callbacks are module-level functions that find their session through a symbol on the
// handle (`this` is the handle or the request): no closure per session or per chunk.
function clientRead(this: Linked): void {
  const s = this[kSession];
  if (s === undefined) return;
  const n = readBytes();
  if (n > 0) s.fromClient(n);
  else if (n < 0) s.clientReadEnded(n);
}

function upstreamRead(this: Linked): void {
  const s = this[kSession];
  if (s === undefined) return;
  const n = readBytes();
  if (n > 0) s.fromUpstream(n);
  else if (n < 0) s.upstreamReadEnded(n);
}

function afterConnect(this: Req, status: number, handle: Linked): void {
  handle[kSession]?.connectDone(handle, status);
}

function afterWrite(this: Req, status: number): void {
  const h = this.handle as Linked;
  // A write cancelled by close() completes here too; libuv is done with the buffer either way.
  if (this.buffer) releaseChunk(this.buffer as Buffer);
  this.buffer = null;
  h[kSession]?.wrote(h, status);
}

function afterShutdown(this: Req, status: number): void {
  const h = this.handle as Linked;
  h[kSession]?.shutDown(h, status);
}

let stateRef: { state: Int32Array; k: number } | null = null;
function readBytes(): number {
  return stateRef!.state[stateRef!.k]!;
}

/** Called once with the bindings before the first session. */
export function initRawSessions(R: RawTcp): void {
  stateRef = { state: R.state, k: R.kReadBytesOrError };
}
