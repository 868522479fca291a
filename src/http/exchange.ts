// One proxied request/response (an "exchange"): route → rate limit → pick → upstream request
// over the backend's keep-alive agent → response streamed back, or a short error answer.
// Invariants: ends once (first reason wins) with one access line; the backend slot taken at
// pick is released exactly once (before a retry, or at the end); the request body is piped
// only once a connection is up, so a connect failure can be retried on another backend.
import http, { type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Backend } from '../pool/backend.js';
import type { Pool } from '../pool/pool.js';
import type { EndReason } from '../log/end-reason.js';
import { requestHeaders, responseHeaders } from './hop-headers.js';
import type { ClientInfo, ExchangeOwner, HttpEnd } from './http-types.js';
import { requestLine } from './http-types.js';

/** RFC 9110 §9.2.2: a retry after a partial failure is only safe for idempotent methods. */
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

const TEXT_PLAIN = 'text/plain; charset=utf-8';

/** Errors we raise on an upstream request; `connect` says whether the connection was ever up. */
class UpstreamTimeout extends Error {
  readonly code: 'LB_CONNECT_TIMEOUT' | 'LB_HTTP_TIMEOUT';
  constructor(code: 'LB_CONNECT_TIMEOUT' | 'LB_HTTP_TIMEOUT') {
    super(code === 'LB_CONNECT_TIMEOUT' ? 'connect timeout' : 'backend idle timeout');
    this.code = code;
  }
}

export class Exchange {
  private readonly startMs = performance.now();
  private readonly hasBody: boolean;
  private readonly chunked: boolean;
  backend: Backend | null = null;
  private acquired = false;
  private tried: Set<Backend> | null = null;
  private attempts = 0;
  private upReq: ClientRequest | null = null;
  private upSocket: Socket | null = null;
  /** The upstream socket's byte counters when this exchange got it (sockets are reused). */
  private markWritten = 0;
  private markRead = 0;
  private connectTimer: NodeJS.Timeout | null = null;
  /** The upstream connection is up (new and connected, or reused): the body may flow. */
  private connected = false;
  private responded = false;
  private done = false;
  private status = 0;
  bytesIn = 0;
  bytesOut = 0;
  private lastFailure: { status: number; end: HttpEnd; detail: string } | null = null;

  constructor(
    private readonly owner: ExchangeOwner,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly client: ClientInfo,
    private readonly pool: Pool,
  ) {
    const te = req.headers['transfer-encoding'];
    const cl = req.headers['content-length'];
    this.chunked = te !== undefined;
    this.hasBody = this.chunked || (cl !== undefined && cl !== '0');
    req.on('error', noop); // a client abort also closes `res`, handled there
    res.on('close', this.onClientClose);
  }

  /** Pick a backend and send the request. */
  start(): void {
    this.attempt();
  }

  /** Closable: end now (drain deadline, shutdown, on_down = close). */
  close(reason: EndReason, detail?: string): void {
    if (this.done) return;
    this.upReq?.destroy();
    if (!this.res.headersSent) {
      this.respond(503, 'closing', reason, detail);
      return;
    }
    this.res.destroy();
    this.finish(reason, detail);
  }

  private attempt(): void {
    const b = this.pool.pick(this.client, this.tried);
    if (b === undefined) {
      if (this.lastFailure === null) this.respond(503, 'no backend available', 'no_backend');
      else this.respond(this.lastFailure.status, 'bad gateway', this.lastFailure.end, this.lastFailure.detail);
      return;
    }
    this.attempts++;
    this.backend = b;
    this.pool.acquire(b, this);
    this.acquired = true;
    this.connected = false;
    this.upSocket = null;
    const headers = requestHeaders(this.req.rawHeaders, this.client, { upgrade: false, chunked: this.chunked, fallbackHost: b.key });
    const up = http.request({
      agent: this.owner.agentFor(b),
      host: b.address.host,
      port: b.address.port,
      method: this.req.method,
      path: this.req.url,
      headers,
      setHost: false,
    });
    this.upReq = up;
    // Per attempt (not per chunk): a retried attempt's late events must not touch the next one.
    up.on('socket', (s: Socket) => this.onSocket(up, s));
    up.on('response', (r: IncomingMessage) => this.onResponse(up, r));
    up.on('error', (err: NodeJS.ErrnoException) => this.onUpstreamError(up, err));
    up.setTimeout(this.owner.config.idleTimeoutMs, () => up.destroy(new UpstreamTimeout('LB_HTTP_TIMEOUT')));
    // No body: the request is complete now, and safe to resend on a connect failure.
    if (!this.hasBody) up.end();
  }

  private onSocket(up: ClientRequest, s: Socket): void {
    if (this.upReq !== up) return;
    this.upSocket = s;
    this.markWritten = s.bytesWritten;
    this.markRead = s.bytesRead;
    if (!s.connecting) {
      this.onConnected(up);
      return;
    }
    this.connectTimer = setTimeout(() => up.destroy(new UpstreamTimeout('LB_CONNECT_TIMEOUT')), this.owner.config.connectTimeoutMs);
    s.once('connect', () => this.onConnected(up));
  }

  private onConnected(up: ClientRequest): void {
    if (this.upReq !== up || this.done) return;
    this.clearConnectTimer();
    this.connected = true;
    if (this.hasBody) this.req.pipe(up);
  }

  private onResponse(up: ClientRequest, r: IncomingMessage): void {
    if (this.upReq !== up || this.done) {
      r.resume();
      return;
    }
    this.responded = true;
    this.status = r.statusCode ?? 502;
    const headers = responseHeaders(r.rawHeaders);
    // Draining: tell the client this connection ends with this response.
    if (this.owner.isClosing) headers.push('Connection', 'close');
    this.res.writeHead(this.status, r.statusMessage, headers);
    r.on('error', noop);
    r.on('close', () => {
      // Premature close of the backend's response: the client's response is cut too.
      if (!r.complete && !this.done) {
        this.res.destroy();
        this.finish('backend_closed', 'response aborted');
      }
    });
    r.on('end', this.captureBytes);
    this.res.on('finish', this.onFinish);
    r.pipe(this.res);
  }

  private readonly onFinish = (): void => {
    // A backend that answered before reading the whole body: that connection is not reusable.
    if (!this.req.complete) this.upReq?.destroy();
    this.finish('complete');
  };

  private onUpstreamError(up: ClientRequest, err: NodeJS.ErrnoException): void {
    if (this.upReq !== up || this.done) return;
    this.clearConnectTimer();
    const b = this.backend!;
    const code = err.code ?? 'ERROR';
    const timeout = code === 'LB_HTTP_TIMEOUT' || code === 'LB_CONNECT_TIMEOUT';
    if (this.responded) {
      // Mid-response: nothing to answer any more; cut the client so it sees the truncation.
      this.res.destroy();
      this.finish(timeout ? 'idle_timeout' : 'backend_closed', code);
      return;
    }
    if (!this.connected) {
      // Nothing reached the backend: always safe to try another one.
      this.pool.reportConnectFailure(b, code);
      this.lastFailure = { status: timeout ? 504 : 502, end: 'connect_failed', detail: code };
      this.retryOrFail();
      return;
    }
    if (timeout) {
      this.respond(504, 'gateway timeout', 'idle_timeout', code);
      return;
    }
    // Sent but no answer (reset, e.g. a keep-alive race). Retry only what is safe to repeat.
    this.lastFailure = { status: 502, end: 'backend_closed', detail: code };
    if (IDEMPOTENT.has(this.req.method ?? '') && !this.hasBody) this.retryOrFail();
    else this.respond(502, 'bad gateway', 'backend_closed', code);
  }

  private retryOrFail(): void {
    this.captureBytes();
    this.releaseBackend();
    (this.tried ??= new Set()).add(this.backend!);
    if (this.attempts > this.pool.config.retries) {
      const f = this.lastFailure!;
      this.respond(f.status, f.status === 504 ? 'gateway timeout' : 'bad gateway', f.end, f.detail);
      return;
    }
    this.attempt();
  }

  private readonly onClientClose = (): void => {
    if (this.done || this.res.writableFinished) return;
    this.upReq?.destroy();
    this.finish('client_closed');
  };

  /** A short error answer of our own (502/503/504/...), then the end. */
  private respond(status: number, text: string, end: HttpEnd, detail?: string): void {
    this.status = status;
    if (!this.res.headersSent && !this.res.destroyed) {
      const body = `${status} ${text}\n`;
      this.res.writeHead(status, { 'content-type': TEXT_PLAIN, 'content-length': Buffer.byteLength(body), ...(this.owner.isClosing ? { connection: 'close' } : {}) });
      this.res.end(body);
    } else {
      this.res.destroy();
    }
    this.finish(end, detail);
  }

  /** Bytes on the upstream socket since this exchange got it; read once the response is over. */
  private readonly captureBytes = (): void => {
    const s = this.upSocket;
    if (s === null) return;
    const bytesIn = s.bytesWritten - this.markWritten;
    const bytesOut = s.bytesRead - this.markRead;
    this.bytesIn += bytesIn;
    this.bytesOut += bytesOut;
    this.backend!.bytesIn += bytesIn;
    this.backend!.bytesOut += bytesOut;
    this.upSocket = null;
  };

  private releaseBackend(): void {
    if (!this.acquired) return;
    this.acquired = false;
    this.pool.release(this.backend!, this);
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }

  private finish(end: HttpEnd, detail?: string): void {
    if (this.done) return;
    this.done = true;
    this.clearConnectTimer();
    this.captureBytes();
    this.releaseBackend();
    this.owner.exchangeEnded(this, requestLine(this.client, this.req, this.status, this.backend, this.bytesIn, this.bytesOut, this.startMs, end, detail));
  }
}

function noop(): void {}
