// A TCP session's bytes on Node's public API: the accepted net.Socket (paused, half-open
// capable) and a net.connect()ed upstream, spliced with backpressure. Backend bytes arrive
// through net.connect's `onread` into one shared buffer and are copied out at once (a chunk
// handed to write() may wait in a queue; the shared buffer is overwritten by the next read
// of any socket). Client bytes come as 'data' events (Node ignores onread for accepted
// sockets). Per chunk: one credit, one write; a full destination pauses the source.
// Faults: an 'error' on either side resets the other (resetAndDestroy, SO_LINGER 0) and ends
// the session as that side's reset; a FIN is passed on as a FIN once a zero-length write
// to its side showed it was no reset behind data; a side whose read ended is probed the
// same way at every idle sweep, so its later reset is seen within a sweep (at most 1 s).
import net, { type Socket } from 'node:net';
import type { Address } from '../../config/types.js';
import { formatHostPort } from '../admission.js';
import type { TcpPath, TcpSession } from './tcp-session.js';

/** libuv's default read size: one read takes what one loopback segment carries. */
const READ_BUFFER_BYTES = 64 * 1024;
/** Every upstream reads into this buffer; its bytes are copied out inside the callback. */
const shared = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
/** Written to a side whose FIN was read, to surface a reset behind it. */
const EMPTY = Buffer.alloc(0);

function noop(): void {}

export class PortablePath implements TcpPath {
  private upstream: Socket | null = null;
  private connected = false;
  private spliced = false;
  /** FINs read from each side, and whether each socket has closed. */
  private clientEof = false;
  private upEof = false;
  private clientClosed = false;
  private upClosed = false;
  private firstFin: 'client' | 'backend' | null = null;
  private closed = false;
  /** Chunks moved either way (the idle sweep's measure of progress, with the queues). */
  private chunks = 0;

  constructor(private readonly session: TcpSession, private readonly client: Socket, private readonly header: Buffer | null) {
    link(client, this);
    client.on('error', clientError);
    client.on('close', clientClose);
  }

  dial(a: Address): void {
    const up = net.connect({
      host: a.host,
      port: a.port,
      allowHalfOpen: true,
      noDelay: true,
      onread: { buffer: shared, callback: this.onUpstreamRead },
    });
    this.upstream = up;
    this.upEof = this.upClosed = false;
    link(up, this);
    up.on('error', upstreamError);
    up.on('close', upstreamClose);
    up.once('connect', upstreamConnect);
  }

  abort(): void {
    this.dropUpstream();
  }

  private dropUpstream(): void {
    const up = this.upstream;
    if (up === null) return;
    this.upstream = null;
    this.connected = false;
    up.removeAllListeners();
    up.on('error', noop);
    up.destroy();
  }

  /** @internal */
  onUpstreamConnect(): void {
    this.connected = true;
    if (this.session.onConnected()) this.splice();
  }

  splice(): void {
    const client = this.client;
    const up = this.upstream!;
    up.on('end', upstreamEnd);
    up.on('drain', upstreamDrain);
    if (!this.spliced) {
      this.spliced = true;
      client.on('data', clientData);
      client.on('end', clientEnd);
      client.on('drain', clientDrain);
    }
    if (this.header !== null) up.write(this.header);
    client.resume();
  }

  // --- the splice ---

  /** @internal */
  onClientData(chunk: Buffer): void {
    this.chunks++;
    this.session.credit(chunk.length, 0);
    if (!this.upstream!.write(chunk)) this.client.pause();
  }

  /** onread callback (called without a `this`, hence an arrow field); false pauses the upstream. */
  private readonly onUpstreamRead = (n: number, buf: Buffer): boolean => {
    if (!this.connected || this.closed) return false;
    const chunk = Buffer.allocUnsafe(n);
    buf.copy(chunk, 0, 0, n);
    this.chunks++;
    this.session.credit(0, n);
    return this.client.write(chunk);
  };

  /** @internal */
  onUpstreamDrain(): void {
    this.client.resume();
  }

  /** @internal */
  onClientDrain(): void {
    this.upstream?.resume();
  }

  // --- FINs: passed on once a zero-length write shows no reset was behind them ---

  /** @internal */
  onClientEnd(): void {
    this.clientEof = true;
    this.firstFin ??= 'client';
    if (this.client.writable) this.client.write(EMPTY, (err?: Error | null) => {
      if (err == null && !this.closed) this.upstream?.end();
    });
    else this.upstream?.end();
  }

  /** @internal */
  onUpstreamEnd(): void {
    this.upEof = true;
    this.firstFin ??= 'backend';
    const up = this.upstream!;
    if (up.writable) up.write(EMPTY, (err?: Error | null) => {
      if (err == null && !this.closed) this.client.end();
    });
    else this.client.end();
  }

  probe(): void {
    if (this.clientEof && !this.clientClosed && this.client.writable) this.client.write(EMPTY);
    const up = this.upstream;
    if (this.upEof && !this.upClosed && up !== null && up.writable) up.write(EMPTY);
  }

  // --- errors: a failure on one side resets the other ---

  /** @internal */
  onClientError(err: NodeJS.ErrnoException): void {
    if (this.closed) return;
    const up = this.upstream;
    if (up !== null && this.connected && !up.destroyed) up.resetAndDestroy();
    this.session.onEnded('client', err.code ?? 'ERROR');
  }

  /** @internal */
  onUpstreamError(err: NodeJS.ErrnoException): void {
    if (this.closed) return;
    const code = err.code ?? 'ERROR';
    const s = this.session;
    if (!this.connected || (s.bytesIn === 0 && s.bytesOut === 0 && !this.clientEof)) {
      // Before any byte moved (the backend accepted, then failed): a failed connect.
      this.client.pause();
      this.dropUpstream();
      s.onConnectFailed(code);
      return;
    }
    if (!this.client.destroyed) this.client.resetAndDestroy();
    s.onEnded('backend', code);
  }

  /** @internal */
  onClientClose(): void {
    this.clientClosed = true;
    if (this.closed) return;
    if (!this.connected) this.session.onEnded('client', null);
    else if (this.upClosed) this.session.onEnded(this.firstFin ?? 'client', null);
  }

  /** @internal */
  onUpstreamClose(): void {
    this.upClosed = true;
    if (!this.closed && this.clientClosed) this.session.onEnded(this.firstFin ?? 'backend', null);
  }

  progress(): number {
    return this.chunks + this.client.writableLength + (this.upstream?.writableLength ?? 0);
  }

  localAddress(): string | null {
    const up = this.upstream;
    return up === null ? null : formatHostPort(up.localAddress ?? '', up.localPort ?? 0);
  }

  close(reset: boolean): void {
    if (this.closed) return;
    this.closed = true;
    const client = this.client;
    if (!client.destroyed) {
      if (reset) client.resetAndDestroy();
      else client.destroy();
    }
    const up = this.upstream;
    if (up !== null && !up.destroyed) {
      if (reset && this.connected) up.resetAndDestroy();
      else up.destroy();
    }
  }

  get queuedToClient(): number {
    return this.client.writableLength;
  }
  get queuedToUpstream(): number {
    return this.upstream?.writableLength ?? 0;
  }
  get upstreamEof(): boolean {
    return this.upEof;
  }
  get clientFinished(): boolean {
    return this.clientClosed;
  }
  get readingClient(): boolean {
    return this.connected && !this.client.isPaused();
  }
}

// Event handlers are module-level trampolines that find their path through a symbol on the
// socket, instead of a dozen closures per session (STYLE §11). The onread callback is the
// one exception: Node calls it without a `this`.
const kPath = Symbol('lb.path');
type Linked = Socket & { [kPath]: PortablePath };
function link(socket: Socket, p: PortablePath): void {
  (socket as Linked)[kPath] = p;
}
function clientData(this: Linked, chunk: Buffer): void {
  this[kPath].onClientData(chunk);
}
function clientEnd(this: Linked): void {
  this[kPath].onClientEnd();
}
function clientDrain(this: Linked): void {
  this[kPath].onClientDrain();
}
function clientError(this: Linked, err: NodeJS.ErrnoException): void {
  this[kPath].onClientError(err);
}
function clientClose(this: Linked): void {
  this[kPath].onClientClose();
}
function upstreamConnect(this: Linked): void {
  this[kPath].onUpstreamConnect();
}
function upstreamEnd(this: Linked): void {
  this[kPath].onUpstreamEnd();
}
function upstreamDrain(this: Linked): void {
  this[kPath].onUpstreamDrain();
}
function upstreamError(this: Linked, err: NodeJS.ErrnoException): void {
  this[kPath].onUpstreamError(err);
}
function upstreamClose(this: Linked): void {
  this[kPath].onUpstreamClose();
}
