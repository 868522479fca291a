// An http listener (optional L7, loaded by dynamic import only when a config has one): a
// node:http server whose requests are routed to pools (router.ts), rate limited per route,
// and proxied over one keep-alive Agent per backend (exchange.ts), Upgrades as raw tunnels.
// Invariants: admission (ACL, listener and global limits) is per client connection and its
// budget slot is released once, on the socket's 'close'; every request ends with exactly one
// access line (msg "request"); nothing else is logged above debug per request.
import http, { Agent, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ListenerConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { Listener } from '../listeners/listener.js';
import type { EndReason } from '../log/end-reason.js';
import type { Backend } from '../pool/backend.js';
import type { Pool } from '../pool/pool.js';
import type { ConnectionBudget } from '../listeners/budget.js';
import { formatHostPort, normaliseIp } from '../listeners/admission.js';
import { addressOf, listenOn } from '../listeners/bind.js';
import { ListenerBase } from '../listeners/listener-base.js';
import { Exchange } from './exchange.js';
import { Tunnel } from './tunnel.js';
import { Router, targetPath, type Route } from './router.js';
import { rawAnswer, type ClientInfo, type ExchangeOwner, type RequestLine } from './http-types.js';

/**
 * Request line plus header fields, in bytes (node:http maxHeaderSize; llhttp counts the whole
 * head). 16 KiB is Node's default and above nginx's 8 KiB large_client_header_buffers line.
 */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Longest request target accepted (414 beyond): HAProxy's default bufsize leaves about this. */
export const MAX_URL_BYTES = 8 * 1024;
/** An idle client keep-alive connection is closed after this long (Node's default). */
export const CLIENT_KEEPALIVE_MS = 5_000;
/**
 * Idle upstream sockets are closed after this long. Below the 5 s keep-alive timeout of
 * node:http (and most servers), so we close first and a request rarely lands on a socket
 * the backend is closing at that moment.
 */
export const UPSTREAM_IDLE_MS = 4_000;
/** Concurrent connections to one backend; requests beyond queue in its Agent. */
export const MAX_SOCKETS_PER_BACKEND = 256;
/** Idle keep-alive connections kept per backend. */
export const MAX_FREE_SOCKETS_PER_BACKEND = 64;

/** Status sent back on a malformed request head (clientError). */
function clientErrorStatus(code: string | undefined): number {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  if (code === 'HPE_HEADER_OVERFLOW') return 431;
  return 400;
}

export function createHttpListener(
  config: ListenerConfig,
  pool: Pool,
  pools: ReadonlyMap<string, Pool>,
  budget: ConnectionBudget,
  log: Logger,
): Listener {
  return new HttpListener(config, pool, pools, budget, log);
}

export class HttpListener extends ListenerBase implements Listener, ExchangeOwner {
  private router: Router;
  private readonly server: Server;
  /** Admitted client connections. */
  private readonly connections = new Map<Socket, ClientInfo>();
  /** Requests and tunnels in flight (the pool's Closable sessions). */
  private readonly inflight = new Set<Exchange | Tunnel>();
  private readonly agents = new Map<Backend, Agent>();
  /** Counters read by status and metrics, beside the base's. */
  accepted = 0;
  denied = 0;
  requestsTotal = 0;
  rateLimited = 0;

  constructor(config: ListenerConfig, pool: Pool, pools: ReadonlyMap<string, Pool>, budget: ConnectionBudget, log: Logger) {
    super('http', config, pool, budget, log);
    this.router = new Router(config.routes, pools, pool);
    const headerTimeoutMs = config.headerTimeoutMs ?? 10_000;
    this.server = http.createServer({
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout: headerTimeoutMs,
      // The whole-request deadline is off: a long upload is fine while bytes flow; a stalled
      // body is cut by the upstream socket's idle_timeout instead.
      requestTimeout: 0,
      keepAliveTimeout: CLIENT_KEEPALIVE_MS,
      // How often node:http checks headersTimeout: a quarter of it, within [10 ms, 1 s].
      connectionsCheckingInterval: Math.min(1000, Math.max(10, Math.floor(headerTimeoutMs / 4))),
      noDelay: true,
    });
    this.server.on('error', this.onServerError);
    this.server.on('connection', this.onConnection);
    this.server.on('request', this.onRequest);
    this.server.on('upgrade', this.onUpgrade);
    this.server.on('clientError', this.onClientError);
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** Open client connections (each holds one slot of the connection budget). */
  get activeSessions(): number {
    return this.connections.size;
  }

  /** Requests and tunnels in flight. */
  get activeRequests(): number {
    return this.inflight.size;
  }

  async listen(): Promise<void> {
    await listenOn(this.server, this.name, this.config.bind, this.onServerError);
    this.log.info({ bind: this.boundAddress(), protocol: 'http', pool: this.pool.name, routes: this.config.routes.length }, 'listening');
  }

  boundAddress(): string {
    return addressOf(this.server, this.config.bind);
  }

  /** Same bind, new settings: new requests use the new routes; requests in flight keep theirs. */
  reconfigure(config: ListenerConfig, pool: Pool, pools: ReadonlyMap<string, Pool>): void {
    this.adopt(config, pool);
    this.router = new Router(config.routes, pools, pool, this.router);
    if (config.headerTimeoutMs !== undefined) this.server.headersTimeout = config.headerTimeoutMs;
    // Agents of backends that left their pool and have no request left.
    for (const [b, agent] of this.agents) {
      if (b.removed && b.active === 0) {
        agent.destroy();
        this.agents.delete(b);
      }
    }
  }

  /** Stop accepting; idle keep-alive connections are closed, busy ones end after their response. */
  async stopAccepting(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (!this.server.listening) return;
    // net.Server.close() releases the port at once; its callback waits for every connection,
    // which is drain's business, not ours. Node >= 19 also closes idle connections here.
    this.server.close();
    this.server.closeIdleConnections();
  }

  async drain(deadlineMs: number, reason: EndReason): Promise<void> {
    await this.stopAccepting();
    await this.drainWait.until(this.connections.size, deadlineMs);
    for (const x of [...this.inflight]) x.close(reason);
    for (const s of [...this.connections.keys()]) s.destroy();
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  agentFor(b: Backend): Agent {
    let agent = this.agents.get(b);
    if (agent === undefined) {
      agent = new Agent({
        keepAlive: true,
        maxSockets: MAX_SOCKETS_PER_BACKEND,
        maxFreeSockets: MAX_FREE_SOCKETS_PER_BACKEND,
        timeout: UPSTREAM_IDLE_MS,
        // Most recently used socket first: the idle tail times out instead of staying warm.
        scheduling: 'lifo',
        // Request heads and small bodies go out at once, not after the backend's delayed ACK.
        noDelay: true,
      } as http.AgentOptions);
      this.agents.set(b, agent);
    }
    return agent;
  }

  exchangeEnded(x: Exchange | Tunnel, line: RequestLine): void {
    this.inflight.delete(x);
    this.bytesIn += line.bytes_in;
    this.bytesOut += line.bytes_out;
    this.log.info(line, 'request');
    if (this.closing) setImmediate(this.closeIdle);
  }

  private readonly closeIdle = (): void => {
    this.server.closeIdleConnections();
  };

  private readonly onConnection = (socket: Socket): void => {
    const rawIp = socket.remoteAddress;
    if (rawIp === undefined) {
      socket.destroy();
      return;
    }
    this.accepted++;
    const ip = normaliseIp(rawIp);
    const port = socket.remotePort ?? 0;
    const why = this.admitClient(rawIp, socket.remoteFamily ?? 'IPv4', this.connections.size);
    const client = formatHostPort(ip, port);
    if (why !== null) {
      this.denied++;
      socket.destroy();
      this.logLocal(null, client, 0, why === 'shutdown' ? 'shutdown' : 'denied', why);
      return;
    }
    this.connections.set(socket, { clientIp: ip, clientPort: port, proto: 'http', client });
    this.sessionsTotal++;
    socket.once('close', () => this.connectionClosed(socket));
  };

  private connectionClosed(socket: Socket): void {
    if (!this.connections.delete(socket)) return;
    this.budget.release();
    if (this.connections.size === 0) this.drainWait.emptied();
  }

  /** Route and rate-limit one request; null after answering it ourselves. */
  private admit(req: IncomingMessage, client: ClientInfo, answer: (status: number, headers: Record<string, string>, detail: string) => void): Route | null {
    this.requestsTotal++;
    const url = req.url ?? '/';
    if (url.length > MAX_URL_BYTES) {
      answer(414, {}, 'uri_too_long');
      return null;
    }
    const route = this.router.match(req.headers.host, targetPath(url));
    if (route.limiter !== null) {
      const retryAfter = route.limiter.take(client.clientIp);
      if (retryAfter > 0) {
        this.rateLimited++;
        answer(429, { 'retry-after': String(retryAfter) }, 'rate_limit');
        return null;
      }
    }
    return route;
  }

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const client = this.connections.get(req.socket);
    if (client === undefined) {
      // Denied at accept; node:http may still have parsed a pipelined head.
      res.destroy();
      return;
    }
    res.sendDate = false; // the backend's Date passes through; our own answers add one below
    const route = this.admit(req, client, (status, headers, detail) => {
      const body = `${status} ${http.STATUS_CODES[status]!.toLowerCase()}\n`;
      res.writeHead(status, { ...headers, date: new Date().toUTCString(), 'content-type': 'text/plain; charset=utf-8', 'content-length': String(body.length) });
      res.end(body);
      this.logLocal(req, client.client, status, 'denied', detail);
    });
    if (route === null) return;
    const x = new Exchange(this, req, res, client, route.pool);
    this.inflight.add(x);
    x.start();
  };

  private readonly onUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    const client = this.connections.get(socket);
    if (client === undefined) {
      socket.destroy();
      return;
    }
    const route = this.admit(req, client, (status, headers, detail) => {
      socket.on('error', noop);
      socket.end(rawAnswer(status, headers));
      this.logLocal(req, client.client, status, 'denied', detail);
    });
    if (route === null) return;
    const t = new Tunnel(this, req, socket, head, client, route.pool);
    this.inflight.add(t);
    t.start();
  };

  /**
   * The access line of a request answered by the listener itself (414, 429, a bad head), or of
   * a connection refused at accept (no request: `req` null, status 0).
   */
  private logLocal(req: IncomingMessage | null, client: string, status: number, end: EndReason, detail: string): void {
    this.log.info(
      { client, method: req?.method ?? null, host: req?.headers.host ?? null, path: req?.url ?? null, status, backend: null, bytes_in: 0, bytes_out: 0, duration_ms: 0, end, detail },
      'request',
    );
  }

  /**
   * A request head node:http could not accept: too slow (headers_timeout: 408, the slowloris
   * case), too large (431), malformed (400). Answered and closed; other clients are untouched.
   */
  private readonly onClientError = (err: NodeJS.ErrnoException, socket: Socket): void => {
    const client = this.connections.get(socket);
    const code = err.code;
    if (code === 'ECONNRESET' || code === 'EPIPE' || !socket.writable || client === undefined) {
      if (this.log.isLevelEnabled('debug')) this.log.debug({ client: client?.client ?? null, err: code }, 'client error');
      socket.destroy();
      return;
    }
    const status = clientErrorStatus(code);
    socket.end(rawAnswer(status));
    // end() flushes then closes; destroy if the client does not read (it may be the attacker).
    socket.setTimeout(1000, () => socket.destroy());
    this.logLocal(null, client.client, status, status === 408 ? 'idle_timeout' : 'error', status === 408 ? 'header_timeout' : code ?? 'bad_request');
  };

  private readonly onServerError = (err: NodeJS.ErrnoException): void => {
    this.log.error({ err: { code: err.code, message: err.message } }, 'accept error');
  };
}

function noop(): void {}
