// A TCP listener: one net.Server (public API: it binds, and shares the socket between
// workers); accept → admission (ACL, listener and global limits, lb's descriptor budget) →
// a TcpSession on the listener's data path: `native` hands the accepted socket's fd to the
// relay addon (native-path.ts), `portable` splices net.Sockets (portable-path.ts). Idle and
// connect timeouts of every session are checked by two sweeps per listener, not a timer per
// session.
import net, { type Server, type Socket } from 'node:net';
import type { ListenerConfig } from '../../config/types.js';
import type { Logger } from '../../log/logger.js';
import type { Pool } from '../../pool/pool.js';
import type { EndReason } from '../../log/end-reason.js';
import { logAccess } from '../../log/access.js';
import { countLocalError, isLocalError } from '../../local-errors.js';
import { type ConnectionBudget, fdBudget } from '../budget.js';
import { formatHostPort, normaliseIp } from '../admission.js';
import { addressOf, listenOn } from '../bind.js';
import { sweepEvery } from '../sweep.js';
import { PathListener } from '../datapath.js';
import { socketFd } from '../node-internals.js';
import { encodeProxyV1, encodeProxyV2 } from '../proxy-protocol.js';
import { TcpSession, type TcpSessionOwner } from './tcp-session.js';
import { NativePath } from './native-path.js';
import { PortablePath } from './portable-path.js';
import { tcpRelay } from './tcp-relay.js';

/** Descriptors a TCP session holds: the client's and the backend's. */
const SESSION_FDS = 2;

export class TcpListener extends PathListener implements TcpSessionOwner {
  private readonly server: Server;
  readonly sessions = new Set<TcpSession>();
  /** Sessions whose backend connect is in flight (the connect sweep's list). */
  private readonly connecting = new Set<TcpSession>();
  private idleSweep: NodeJS.Timeout | null = null;
  private connectSweep: NodeJS.Timeout | null = null;
  /** Clients refused for lb's own limits since the last warning, and when that was. */
  private refusedLocal = 0;
  private lastLocalWarnMs = -Infinity;
  /** Counters read by status and metrics, beside the base's. */
  accepted = 0;
  denied = 0;

  constructor(config: ListenerConfig, pool: Pool, budget: ConnectionBudget, log: Logger) {
    super('tcp', config, pool, budget, log);
    const native = this.datapath === 'native';
    // Native sessions set TCP_NODELAY on the relay's copy of the fd themselves.
    this.server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: !native }, this.onConnection);
    // Accept errors (EMFILE...) land here; the server keeps listening.
    this.server.on('error', this.onServerError);
  }

  get activeSessions(): number {
    return this.sessions.size;
  }

  /** Bind; resolves once listening, rejects with BindError (code LB_BIND_FAILED). */
  async listen(): Promise<void> {
    await listenOn(this.server, this.name, this.config.bind, this.onServerError);
    this.startSweeps();
    this.listening();
  }

  /** Credit the bytes native sessions moved since the last look (before counters are read). */
  syncCounters(): void {
    if (this.datapath !== 'native') return;
    for (const s of this.sessions) s.syncCounters();
  }

  /** The address actually bound (the port is the OS's choice when the config says 0). */
  boundAddress(): string {
    return addressOf(this.server, this.config.bind);
  }

  get port(): number {
    const a = this.server.address();
    return a !== null && typeof a !== 'string' ? a.port : 0;
  }

  /** Apply a new config for the same bind (reload): new sessions see it, open ones keep theirs. */
  reconfigure(config: ListenerConfig, pool: Pool, _pools?: ReadonlyMap<string, Pool>): void {
    const old = this.adopt(config, pool);
    const timeoutsChanged = config.idleTimeoutMs !== old.idleTimeoutMs || config.connectTimeoutMs !== old.connectTimeoutMs;
    if (timeoutsChanged && this.server.listening) this.startSweeps();
  }

  /** Idle and connect timeouts: one interval each per listener. */
  private startSweeps(): void {
    this.stopSweeps();
    this.idleSweep = setInterval(() => {
      const now = performance.now();
      const idle = this.config.idleTimeoutMs;
      for (const s of this.sessions) s.idleCheck(now, idle);
    }, sweepEvery(this.config.idleTimeoutMs));
    this.idleSweep.unref();
    this.connectSweep = setInterval(() => {
      if (this.connecting.size === 0) return;
      const now = performance.now();
      const limit = this.config.connectTimeoutMs;
      for (const s of this.connecting) if (now - s.connectStartMs >= limit) s.connectTimedOut();
    }, sweepEvery(this.config.connectTimeoutMs));
    this.connectSweep.unref();
  }

  private stopSweeps(): void {
    if (this.idleSweep !== null) clearInterval(this.idleSweep);
    if (this.connectSweep !== null) clearInterval(this.connectSweep);
    this.idleSweep = this.connectSweep = null;
  }

  /** @internal session owner: the connect attempt is over. */
  connectDone(s: TcpSession): void {
    this.connecting.delete(s);
  }

  /** @internal session owner: the session dials again. */
  connectAgain(s: TcpSession): void {
    if (this.sessions.has(s)) this.connecting.add(s);
  }

  /** Stop accepting. Open sessions are untouched. */
  async stopAccepting(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /**
   * Stop accepting, let sessions end by themselves until `deadlineMs` (a performance.now()
   * instant), then close the rest with `reason`.
   */
  async drain(deadlineMs: number, reason: EndReason): Promise<void> {
    const stopped = this.stopAccepting();
    await this.drainWait.until(this.sessions.size, deadlineMs);
    for (const s of [...this.sessions]) s.close(reason);
    await stopped;
    this.stopSweeps();
  }

  /** @internal session owner: called once per session, when it ends. */
  sessionEnded(s: TcpSession): void {
    this.connecting.delete(s);
    if (!this.sessions.delete(s)) return;
    this.budget.release();
    fdBudget.give(SESSION_FDS);
    if (this.sessions.size === 0) this.drainWait.emptied();
  }

  private readonly onConnection = (socket: Socket): void => {
    const rawIp = socket.remoteAddress;
    if (rawIp === undefined) {
      // Already reset by the peer before we saw it.
      letGo(socket, false);
      return;
    }
    this.accepted++;
    const ip = normaliseIp(rawIp);
    const port = socket.remotePort ?? 0;
    const why = this.admitClient(rawIp, socket.remoteFamily ?? 'IPv4', this.sessions.size);
    if (why !== null) {
      letGo(socket, false);
      this.logDenied(ip, port, why);
      return;
    }
    if (!fdBudget.tryTake(SESSION_FDS)) {
      this.budget.release();
      letGo(socket, true);
      this.refusedLocally('EMFILE');
      return;
    }
    const session = new TcpSession(this, this.pool, ip, port);
    this.sessions.add(session);
    this.connecting.add(session);
    this.sessionsTotal++;
    const pp = this.config.proxyProtocol;
    const header = pp === 'off' ? null : proxyHeaderOf(socket, pp);
    const fd = this.datapath === 'native' ? socketFd(socket) : -1;
    if (fd < 0) {
      session.start(new PortablePath(session, socket, header));
      return;
    }
    let path: NativePath;
    try {
      path = new NativePath(tcpRelay!, session, fd, header);
    } catch (err) {
      letGo(socket, true);
      session.failStart((err as NodeJS.ErrnoException).code ?? 'EINVAL');
      return;
    }
    // The relay holds its own copy of the fd: the net.Socket closes only its descriptor.
    letGo(socket, false);
    session.start(path);
  };

  private logDenied(ip: string, port: number, why: string): void {
    this.denied++;
    logAccess(this.log, {
      client: formatHostPort(ip, port),
      backend: null,
      backend_local: null,
      bytes_in: 0,
      bytes_out: 0,
      duration_ms: 0,
      end: why === 'shutdown' ? 'shutdown' : 'denied',
      detail: why,
    });
  }

  /** A client lb could not take for its own limits: counted, and said at most once a second. */
  private refusedLocally(code: string): void {
    countLocalError(code);
    this.refusedLocal++;
    const now = performance.now();
    if (now - this.lastLocalWarnMs < 1000) return;
    this.lastLocalWarnMs = now;
    this.log.warn({ end: 'local_error', code, refused: this.refusedLocal, fd_limit: fdBudget.limit }, 'clients refused: lb is out of file descriptors');
    this.refusedLocal = 0;
  }

  private readonly onServerError = (err: NodeJS.ErrnoException): void => {
    if (isLocalError(err.code)) {
      // libuv's accept under EMFILE: it closes the waiting connection itself and goes on.
      this.refusedLocally(err.code!);
      return;
    }
    this.log.error({ err: { code: err.code, message: err.message } }, 'accept error');
  };
}

/** The PROXY header for an accepted client: its address as accepted, and the address it reached. */
function proxyHeaderOf(socket: Socket, version: 'v1' | 'v2'): Buffer {
  const src = { ip: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
  const dst = { ip: socket.localAddress ?? '', port: socket.localPort ?? 0 };
  return version === 'v1' ? encodeProxyV1(src, dst) : encodeProxyV2(src, dst, 'stream');
}

/** Close an accepted socket lb does not keep (with RST when `reset`); its late errors are ignored. */
function letGo(socket: Socket, reset: boolean): void {
  socket.on('error', noop);
  if (reset) socket.resetAndDestroy();
  else socket.destroy();
}

function noop(): void {}
