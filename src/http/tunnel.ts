// An Upgrade request (WebSocket, h2c...) passed through as a raw TCP tunnel: connect to a
// backend, write the request head (hop-by-hop fields removed, forwarding fields added, Upgrade
// kept) and any bytes read past it, then splice both sockets with pipe() (backpressure and
// half-close). The backend's 101 (or refusal) reaches the client through the tunnel itself.
// Invariants: ends once with one access line; the backend slot is released exactly once.
import net, { type Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Backend } from '../pool/backend.js';
import type { Pool } from '../pool/pool.js';
import type { EndReason } from '../log/end-reason.js';
import { requestHeaders } from './hop-headers.js';
import type { ClientInfo, ExchangeOwner, HttpEnd } from './http-types.js';
import { rawAnswer, requestLine } from './http-types.js';

export class Tunnel {
  private readonly startMs = performance.now();
  backend: Backend | null = null;
  private upstream: Socket | null = null;
  private acquired = false;
  private tried: Set<Backend> | null = null;
  private attempts = 0;
  private spliced = false;
  private done = false;
  private status = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  private lastFailure: { status: number; detail: string } | null = null;

  constructor(
    private readonly owner: ExchangeOwner,
    private readonly req: IncomingMessage,
    private readonly socket: Socket,
    private readonly head: Buffer,
    private readonly client: ClientInfo,
    private readonly pool: Pool,
  ) {
    // node:http leaves an upgraded socket without an 'error' listener (see 'upgrade' docs).
    socket.on('error', this.onClientError);
    socket.on('close', this.onClientClose);
  }

  start(): void {
    this.attempt();
  }

  /** Closable: end now (drain deadline, shutdown, on_down = close). */
  close(reason: EndReason, detail?: string): void {
    this.finish(reason, detail);
  }

  private attempt(): void {
    if (this.done) return;
    const b = this.pool.pick(this.client, this.tried);
    if (b === undefined) {
      const f = this.lastFailure;
      this.refuse(f?.status ?? 503, f === null ? 'no_backend' : 'connect_failed', f?.detail);
      return;
    }
    this.attempts++;
    this.backend = b;
    this.pool.acquire(b, this);
    this.acquired = true;
    const up = net.connect({ host: b.address.host, port: b.address.port, allowHalfOpen: true, noDelay: true });
    this.upstream = up;
    up.on('error', (err: NodeJS.ErrnoException) => this.onUpstreamError(up, err.code ?? 'ERROR'));
    up.setTimeout(this.owner.config.connectTimeoutMs, () => this.onUpstreamError(up, 'LB_CONNECT_TIMEOUT'));
    up.once('connect', () => this.onConnect(up, b));
  }

  private onConnect(up: Socket, b: Backend): void {
    if (this.upstream !== up || this.done) return;
    this.spliced = true;
    up.setTimeout(this.owner.config.idleTimeoutMs, () => this.finish('idle_timeout'));
    const headers = requestHeaders(this.req.rawHeaders, this.client, { upgrade: true, chunked: false, fallbackHost: b.key });
    let text = `${this.req.method} ${this.req.url} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
    up.write(text + '\r\n');
    if (this.head.length > 0) up.write(this.head);
    up.once('data', this.sniffStatus);
    up.on('close', this.onUpstreamClose);
    this.socket.pipe(up);
    up.pipe(this.socket);
  }

  /** The backend's status line, for the access log (first chunk only). */
  private readonly sniffStatus = (chunk: Buffer): void => {
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(chunk.toString('latin1', 0, 12));
    if (m !== null) this.status = Number(m[1]);
  };

  private onUpstreamError(up: Socket, code: string): void {
    if (this.upstream !== up || this.done) return;
    if (this.spliced) {
      this.finish('backend_closed', code);
      return;
    }
    up.destroy();
    this.pool.reportConnectFailure(this.backend!, code);
    this.lastFailure = { status: code === 'LB_CONNECT_TIMEOUT' ? 504 : 502, detail: code };
    this.release();
    (this.tried ??= new Set()).add(this.backend!);
    if (this.attempts > this.pool.config.retries) this.refuse(this.lastFailure.status, 'connect_failed', code);
    else this.attempt();
  }

  private readonly onUpstreamClose = (): void => this.finish('backend_closed');
  private readonly onClientClose = (): void => this.finish('client_closed');
  private readonly onClientError = (err: NodeJS.ErrnoException): void => this.finish('client_closed', err.code);

  /** Answer on the raw socket (no ServerResponse after 'upgrade') and close. */
  private refuse(status: number, end: HttpEnd, detail?: string): void {
    this.status = status;
    if (this.socket.writable) this.socket.end(rawAnswer(status));
    this.finish(end, detail, false);
  }

  private release(): void {
    if (!this.acquired) return;
    this.acquired = false;
    this.pool.release(this.backend!, this);
  }

  private finish(end: HttpEnd, detail?: string, destroyClient = true): void {
    if (this.done) return;
    this.done = true;
    const up = this.upstream;
    if (up !== null) {
      this.bytesIn = up.bytesWritten;
      this.bytesOut = up.bytesRead;
      up.destroy();
      if (this.spliced && this.backend !== null) {
        this.backend.bytesIn += this.bytesIn;
        this.backend.bytesOut += this.bytesOut;
      }
    }
    if (destroyClient) this.socket.destroy();
    this.release();
    this.owner.exchangeEnded(this, requestLine(this.client, this.req, this.status, this.backend, this.bytesIn, this.bytesOut, this.startMs, end, detail));
  }
}
