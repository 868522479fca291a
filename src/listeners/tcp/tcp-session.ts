// One TCP session: a client socket spliced to one upstream socket. The backend is dialled at
// accept (server-first protocols such as MySQL speak before the client does); the client
// stays paused until the upstream is up, so its early bytes wait in the kernel, not in JS.
// Invariants: a session ends once and the first EndReason wins; the backend and global
// slots are released exactly once; no closure or object is created per chunk.
import net, { type Socket } from 'node:net';
import type { Backend } from '../../pool/backend.js';
import type { Pool } from '../../pool/pool.js';
import { ConnectAttempts } from '../../pool/connect-attempts.js';
import type { EndReason } from '../../log/end-reason.js';
import { logSessionEnd } from '../../log/access.js';
import { formatHostPort } from '../admission.js';
import { encodeProxyV1, encodeProxyV2 } from '../proxy-protocol.js';
import { readBuffer, copyOut, adoptReadBuffer } from './read-buffer.js';
import type { TcpListener } from './tcp-listener.js';

function noop(): void {}

/** Written to probe whether a FIN was really a reset (see onClientEnd). */
const EMPTY = Buffer.alloc(0);

/** Errors that mean "the peer went away" rather than a fault of ours or the network's. */
function isPeerGone(code: string | undefined): boolean {
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED';
}

export class TcpSession {
  readonly client: Socket;
  readonly clientIp: string;
  readonly clientPort: number;
  upstream: Socket | null = null;
  backend: Backend | null = null;
  /** Connect attempts: how many, and the backends that failed for this client. */
  private readonly attempts = new ConnectAttempts();
  private connected = false;
  private done = false;
  private clientClosed = false;
  private upstreamClosed = false;
  /** First decisive cause of the end (a reset, an error); explicit ends (idle, drain) pass theirs. */
  private reason: EndReason | null = null;
  /**
   * Which side sent the first FIN. A FIN alone does not end a session (the other direction
   * keeps flowing), so it only names the end when both sides then close normally; an idle
   * timeout, drain or shutdown that cuts a half-closed session is logged as such.
   */
  private firstFin: EndReason | null = null;
  private detail: string | undefined = undefined;
  private readonly startMs: number;
  bytesIn = 0;
  bytesOut = 0;
  private backendLocal: string | null = null;
  /** The other socket's write-queue length when an idle timer last found it non-empty. */
  private queueMark = -1;
  private readonly listener: TcpListener;
  /** The pool at accept time; a reload may point the listener at another one meanwhile. */
  private readonly pool: Pool;

  constructor(listener: TcpListener, client: Socket, clientIp: string) {
    this.listener = listener;
    this.pool = listener.pool;
    this.client = client;
    this.clientIp = clientIp;
    this.clientPort = client.remotePort ?? 0;
    this.startMs = performance.now();
    link(client, this);
    client.on('error', clientError);
    client.on('close', clientClose);
  }

  /** Dial a backend; called once at accept. */
  start(): void {
    this.dial();
  }

  /** End the session now with `reason` (drain deadline, shutdown, on_down = close). */
  close(reason: EndReason, detail?: string): void {
    this.finish(reason, detail);
  }

  get isEstablished(): boolean {
    return this.connected;
  }

  /** Bytes lb holds for the client and for the backend (the sockets' write queues). */
  get queuedToClient(): number {
    return this.client.writableLength;
  }
  get queuedToUpstream(): number {
    return this.upstream?.writableLength ?? 0;
  }
  /** lb reads the client (it is not held back by a full upstream). */
  get readingClient(): boolean {
    return this.connected && !this.client.isPaused();
  }
  /** Both directions of the client side are finished (the client socket closed). */
  get clientFinished(): boolean {
    return this.clientClosed;
  }

  private dial(): void {
    const b = this.attempts.next(this.pool, this);
    if (b === undefined) {
      this.finish(this.attempts.exhausted, this.detail);
      return;
    }
    this.backend = b;
    const up = net.connect({
      host: b.address.host,
      port: b.address.port,
      allowHalfOpen: true,
      noDelay: true,
      // Backend bytes bypass the Readable machinery and land in a shared buffer (read-buffer.ts).
      onread: { buffer: readBuffer, callback: this.onUpstreamRead },
    });
    this.upstream = up;
    up.setTimeout(this.listener.config.connectTimeoutMs);
    link(up, this);
    up.on('error', upstreamError);
    up.on('close', upstreamClose);
    up.on('timeout', upstreamTimeout);
    up.once('connect', upstreamConnect);
  }

  private connectFailed(code: string): void {
    const up = this.upstream!;
    const b = this.backend!;
    up.removeAllListeners();
    up.on('error', noop);
    up.destroy();
    this.upstream = null;
    this.detail = code;
    this.pool.reportConnectFailure(b, code);
    if (this.done) return;
    if (this.attempts.failed(this.pool, b, code, this.listener.log)) this.dial();
    else this.finish('connect_failed', code);
  }

  /** @internal event handler; `this` is the session (see trampolines below). */
  onUpstreamConnect(): void {
    const up = this.upstream!;
    const client = this.client;
    this.connected = true;
    // A failed earlier attempt's errno does not describe this session any more.
    this.detail = undefined;
    // Both sockets carry the idle timer (see onClientTimeout): together they see every read
    // and every completed write, and the upstream's covers a client gone while the upstream
    // cannot flush.
    up.setTimeout(this.listener.config.idleTimeoutMs);
    this.pool.acquire(this.backend!, this);
    this.backendLocal = formatHostPort(up.localAddress ?? '', up.localPort);
    if (this.done) return;
    up.on('end', upstreamEnd);
    up.on('drain', upstreamDrain);
    // Client bytes land in the shared read buffer too where this Node allows it.
    if (!adoptReadBuffer(client, this.onClientRead)) client.on('data', clientData);
    client.on('end', clientEnd);
    client.on('drain', clientDrain);
    client.on('timeout', clientTimeout);
    client.setTimeout(this.listener.config.idleTimeoutMs);
    const pp = this.listener.config.proxyProtocol;
    if (pp !== 'off') up.write(this.proxyHeader(pp));
    client.resume();
  }

  /** PROXY header (first bytes on the backend connection): the client, and the address it reached. */
  private proxyHeader(version: 'v1' | 'v2'): Buffer {
    const src = { ip: this.client.remoteAddress ?? '', port: this.clientPort };
    const dst = { ip: this.client.localAddress ?? '', port: this.client.localPort ?? 0 };
    return version === 'v1' ? encodeProxyV1(src, dst) : encodeProxyV2(src, dst, 'stream');
  }

  // --- the splice: per chunk, two increments and a write; backpressure pauses the source ---
  // Socket timeouts are refreshed by reads and by completed writes, so the client socket's
  // idle timer sees traffic in both directions.

  /** @internal event handler; `this` is the session (see trampolines below). */
  onClientData(chunk: Buffer): void {
    if (!this.forwardIn(chunk)) this.client.pause();
  }

  /** Client reads through the shared buffer (see adoptReadBuffer); same rules as below. */
  private readonly onClientRead = (n: number, buf: Buffer): boolean => {
    if (!this.connected || this.done) return false;
    return this.forwardIn(copyOut(buf, n));
  };

  /**
   * onread callback (called in the global context, hence an arrow field): `n` bytes of the
   * shared read buffer. Returning false pauses the upstream (backpressure).
   */
  private readonly onUpstreamRead = (n: number, buf: Buffer): boolean => {
    if (!this.connected || this.done) return false;
    return this.forwardOut(copyOut(buf, n));
  };

  /** Count client → backend bytes and write them on; false means the upstream is full. */
  private forwardIn(chunk: Buffer): boolean {
    const n = chunk.length;
    this.bytesIn += n;
    this.backend!.bytesIn += n;
    this.listener.bytesIn += n;
    return this.upstream!.write(chunk);
  }

  /** Count backend → client bytes and write them on; false means the client is full. */
  private forwardOut(chunk: Buffer): boolean {
    const n = chunk.length;
    this.bytesOut += n;
    this.backend!.bytesOut += n;
    this.listener.bytesOut += n;
    return this.client.write(chunk);
  }

  /** @internal event handler; `this` is the session (see trampolines below). */
  onUpstreamDrain(): void {
    this.client.resume();
  }

  /** @internal event handler; `this` is the session (see trampolines below). */
  onClientDrain(): void {
    this.upstream?.resume();
  }

  // --- half-close: a FIN is passed on; the other direction keeps flowing until it ends too ---

  // libuv reports a RST that arrives behind unread bytes as data then end-of-file, so an
  // 'end' may really be a reset. A zero-length write to that socket surfaces the pending
  // ECONNRESET through its 'error' handler (which passes the reset on); only when it
  // succeeds is the FIN a real half-close, and then it is passed on. One syscall per FIN.

  /** @internal event handler; `this` is the session (see trampolines below). */
  onClientEnd(): void {
    this.firstFin ??= 'client_closed';
    if (this.client.writable) this.client.write(EMPTY, (err?: Error | null) => this.afterClientEndProbe(err));
    else this.upstream?.end();
  }

  /** @internal event handler; `this` is the session (see trampolines below). */
  afterClientEndProbe(err?: Error | null): void {
    if (err == null && !this.done) this.upstream?.end();
  }

  /** @internal event handler; `this` is the session (see trampolines below). */
  onUpstreamEnd(): void {
    this.firstFin ??= 'backend_closed';
    const up = this.upstream!;
    if (up.writable) up.write(EMPTY, (err?: Error | null) => this.afterUpstreamEndProbe(err));
    else this.client.end();
  }

  /** @internal event handler; `this` is the session (see trampolines below). */
  afterUpstreamEndProbe(err?: Error | null): void {
    if (err == null && !this.done) this.client.end();
  }

  // --- idle: "no byte moved either way for idle_timeout" ---
  // Each socket's timer is refreshed by its own reads and completed writes. When one fires
  // while the other socket is still flushing a queue (a slow reader on the other side keeps
  // this side paused), the session is not idle: re-arm and look again one period later.
  // A queue whose length has not changed over a whole period is stuck, and that is idle.

  /** @internal event handler; `this` is the session (see trampolines below). */
  onClientTimeout(): void {
    this.idleCheck(this.client, this.upstream);
  }

  /** @internal event handler; `this` is the session (see trampolines below). */
  onUpstreamTimeout(): void {
    if (!this.connected) this.connectFailed('ETIMEDOUT');
    else this.idleCheck(this.upstream!, this.client);
  }

  private idleCheck(fired: Socket, other: Socket | null): void {
    if (other !== null && !other.destroyed && other.writableLength > 0 && other.writableLength !== this.queueMark) {
      this.queueMark = other.writableLength;
      fired.setTimeout(this.listener.config.idleTimeoutMs);
      return;
    }
    this.finish('idle_timeout', undefined);
  }

  // --- errors and resets: a reset on one side is passed on as a reset on the other ---

  /** @internal event handler; `this` is the session (see trampolines below). */
  onClientError(err: NodeJS.ErrnoException): void {
    const gone = isPeerGone(err.code);
    this.reason ??= gone ? 'client_closed' : 'error';
    this.detail ??= err.code ?? err.message;
    const up = this.upstream;
    if (up !== null && !up.destroyed) {
      if (this.connected && err.code === 'ECONNRESET') up.resetAndDestroy();
      else up.destroy();
    }
  }

  /** @internal event handler; `this` is the session (see trampolines below). */
  onUpstreamError(err: NodeJS.ErrnoException): void {
    if (!this.connected) {
      this.connectFailed(err.code ?? 'ERROR');
      return;
    }
    const gone = isPeerGone(err.code);
    this.reason ??= gone ? 'backend_closed' : 'error';
    this.detail ??= err.code ?? err.message;
    if (!this.client.destroyed) {
      if (err.code === 'ECONNRESET') this.client.resetAndDestroy();
      else this.client.destroy();
    }
  }

  /** @internal event handler; `this` is the session (see trampolines below). */
  onClientClose(): void {
    this.clientClosed = true;
    if (!this.connected) {
      // The client left while we were still dialling.
      this.finish('client_closed', this.detail);
    } else if (this.upstreamClosed) {
      this.finish(this.firstFin ?? 'client_closed', this.detail);
    }
  }

  /** @internal event handler; `this` is the session (see trampolines below). */
  onUpstreamClose(): void {
    this.upstreamClosed = true;
    if (this.clientClosed) this.finish(this.firstFin ?? 'backend_closed', this.detail);
  }

  /** The one place a session ends: release slots, close what is open, write the access line. */
  private finish(reason: EndReason, detail: string | undefined): void {
    if (this.done) return;
    this.done = true;
    this.reason ??= reason;
    this.detail ??= detail;
    this.client.setTimeout(0);
    if (!this.client.destroyed) this.client.destroy();
    const up = this.upstream;
    if (up !== null) {
      up.setTimeout(0);
      if (!up.destroyed) up.destroy();
    }
    if (this.connected) this.pool.release(this.backend!, this);
    this.listener.sessionEnded(this);
    logSessionEnd(this.listener.log, this, this.backendLocal, this.startMs, this.reason!, this.detail);
  }
}

// Event handlers are module-level trampolines that find their session through a symbol on
// the socket, instead of closures made per session: a dozen closures per connection would
// cost about a kilobyte each of 10,000 idle connections (STYLE §11: no closure per session
// where a shared function will do). The onread callback is the one exception: Node calls it
// without a `this`.
const kSession = Symbol('lb.session');
type Linked = Socket & { [kSession]: TcpSession };
function link(socket: Socket, session: TcpSession): void {
  (socket as Linked)[kSession] = session;
}
function clientData(this: Linked, chunk: Buffer): void {
  this[kSession].onClientData(chunk);
}
function clientEnd(this: Linked): void {
  this[kSession].onClientEnd();
}
function clientDrain(this: Linked): void {
  this[kSession].onClientDrain();
}
function clientTimeout(this: Linked): void {
  this[kSession].onClientTimeout();
}
function clientError(this: Linked, err: NodeJS.ErrnoException): void {
  this[kSession].onClientError(err);
}
function clientClose(this: Linked): void {
  this[kSession].onClientClose();
}
function upstreamConnect(this: Linked): void {
  this[kSession].onUpstreamConnect();
}
function upstreamEnd(this: Linked): void {
  this[kSession].onUpstreamEnd();
}
function upstreamDrain(this: Linked): void {
  this[kSession].onUpstreamDrain();
}
function upstreamTimeout(this: Linked): void {
  this[kSession].onUpstreamTimeout();
}
function upstreamError(this: Linked, err: NodeJS.ErrnoException): void {
  this[kSession].onUpstreamError(err);
}
function upstreamClose(this: Linked): void {
  this[kSession].onUpstreamClose();
}
