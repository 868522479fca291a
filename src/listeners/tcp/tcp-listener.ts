// A TCP listener: one net.Server; accept → admission (ACL, listener and global limits) →
// session. net.Server binds (and shares the socket between workers); accepted connections
// are taken over as bare libuv handles (raw-handles.ts). Their bytes are moved by the native
// relay (tcp-relay.ts, NativeTcpSession) or, without the addon, from JavaScript on libuv
// handles (RawTcpSession), with idle and connect timeouts checked by two sweeps per listener
// instead of a timer per session. Where the bindings are missing, accepted sockets start
// paused (pauseOnConnect) and half-open capable and are spliced by the net.Socket
// TcpSession instead.
import net, { type Server, type Socket } from 'node:net';
import type { ListenerConfig } from '../../config/types.js';
import type { Logger } from '../../log/logger.js';
import type { Pool } from '../../pool/pool.js';
import type { ConnectionBudget } from '../budget.js';
import type { EndReason } from '../../log/end-reason.js';
import { logAccess } from '../../log/access.js';
import { Acl, formatHostPort, normaliseIp } from '../admission.js';
import { listenOn } from '../bind.js';
import { DrainWait } from '../drain-wait.js';
import { sweepEvery } from '../sweep.js';
import { TcpSession } from './tcp-session.js';
import { RawTcpSession, initRawSessions } from './raw-session.js';
import { NativeTcpSession } from './native-session.js';
import { raw, serverHandle, errname, type TcpHandle } from './raw-handles.js';
import { tcpRelay } from './tcp-relay.js';

if (raw !== null) initRawSessions(raw);

type SweptSession = RawTcpSession | NativeTcpSession;
type Session = TcpSession | SweptSession;

export class TcpListener {
  readonly name: string;
  config: ListenerConfig;
  pool: Pool;
  readonly log: Logger;
  private acl: Acl;
  private readonly budget: ConnectionBudget;
  private readonly server: Server;
  readonly sessions = new Set<Session>();
  /** Swept sessions whose backend connect is in flight (the connect sweep's list). */
  private readonly connecting = new Set<SweptSession>();
  private idleSweep: NodeJS.Timeout | null = null;
  private connectSweep: NodeJS.Timeout | null = null;
  /** Accepted connections arrive as bare handles (false: as net.Sockets). */
  private rawMode = false;
  /** Counters read by status and metrics. */
  accepted = 0;
  denied = 0;
  sessionsTotal = 0;
  bytesIn = 0;
  bytesOut = 0;
  private closing = false;
  private readonly drainWait = new DrainWait();

  constructor(config: ListenerConfig, pool: Pool, budget: ConnectionBudget, log: Logger) {
    this.name = config.name;
    this.config = config;
    this.pool = pool;
    this.budget = budget;
    this.log = log.child({ listener: config.name });
    this.acl = new Acl(config.allow, config.deny);
    this.server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true }, this.onConnection);
    // Accept errors (EMFILE...) land here; the server keeps listening.
    this.server.on('error', this.onServerError);
  }

  get protocol(): 'tcp' {
    return 'tcp';
  }

  get activeSessions(): number {
    return this.sessions.size;
  }

  /** Bind; resolves once listening, rejects with BindError (code LB_BIND_FAILED). */
  async listen(): Promise<void> {
    await listenOn(this.server, this.name, this.config.bind, this.onServerError);
    const h = raw === null ? null : serverHandle(this.server);
    if (h !== null) {
      h.onconnection = this.onHandle;
      this.rawMode = true;
      this.startSweeps();
    }
    this.log.info({ bind: this.boundAddress(), protocol: 'tcp', pool: this.pool.name, datapath: this.datapath }, 'listening');
  }

  /** How bytes move: the native relay, JavaScript on libuv handles, or net.Sockets. */
  get datapath(): 'native' | 'handles' | 'sockets' {
    if (!this.rawMode) return 'sockets';
    return tcpRelay !== null ? 'native' : 'handles';
  }

  /** Credit the bytes native sessions moved since the last look (before counters are read). */
  syncCounters(): void {
    if (this.datapath !== 'native') return;
    for (const s of this.sessions) (s as NativeTcpSession).syncCounters();
  }

  /** The address actually bound (the port is the OS's choice when the config says 0). */
  boundAddress(): string {
    const a = this.server.address();
    if (a === null || typeof a === 'string') return this.config.bind.text;
    return formatHostPort(a.address, a.port);
  }

  get port(): number {
    const a = this.server.address();
    return a !== null && typeof a !== 'string' ? a.port : 0;
  }

  /** Apply a new config for the same bind (reload): new sessions see it, open ones keep theirs. */
  reconfigure(config: ListenerConfig, pool: Pool, _pools?: ReadonlyMap<string, Pool>): void {
    const timeoutsChanged = config.idleTimeoutMs !== this.config.idleTimeoutMs || config.connectTimeoutMs !== this.config.connectTimeoutMs;
    this.config = config;
    this.pool = pool;
    this.acl = new Acl(config.allow, config.deny);
    if (timeoutsChanged && this.rawMode) this.startSweeps();
  }

  /** Idle and connect timeouts of raw sessions: one interval each per listener. */
  private startSweeps(): void {
    this.stopSweeps();
    this.idleSweep = setInterval(() => {
      const now = performance.now();
      const idle = this.config.idleTimeoutMs;
      for (const s of this.sessions) (s as SweptSession).idleCheck(now, idle);
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

  /** A swept session's backend is connected: off the connect sweep's list. */
  connected(s: SweptSession): void {
    this.connecting.delete(s);
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

  /** Called by a session exactly once, when it ends. */
  sessionEnded(s: Session): void {
    if (!(s instanceof TcpSession)) this.connecting.delete(s);
    if (!this.sessions.delete(s)) return;
    this.budget.release();
    if (this.sessions.size === 0) this.drainWait.emptied();
  }

  private readonly onConnection = (socket: Socket): void => {
    const rawIp = socket.remoteAddress;
    if (rawIp === undefined) {
      // Already reset by the peer before we saw it.
      socket.on('error', noop);
      socket.destroy();
      return;
    }
    this.accepted++;
    const ip = normaliseIp(rawIp);
    const why = this.admit(rawIp, socket.remoteFamily ?? 'IPv4');
    if (why !== null) {
      this.reject(socket, ip, why);
      return;
    }
    const session = new TcpSession(this, socket, ip);
    this.sessions.add(session);
    this.sessionsTotal++;
    session.start();
  };

  /** Admission for a new client; null admits it, otherwise why not. */
  private admit(rawIp: string, family: string): string | null {
    if (this.closing) return 'shutdown';
    if (!this.acl.permits(rawIp, family)) return 'acl';
    if (this.sessions.size >= this.config.maxConnections) return 'listener_max_connections';
    if (!this.budget.tryAcquire()) return 'global_max_connections';
    return null;
  }

  /** Accept on the raw path: net.Server's handle hands over each connection as a bare handle. */
  private readonly onHandle = (err: number, handle: TcpHandle | undefined): void => {
    if (err !== 0 || handle === undefined) {
      this.onServerError(Object.assign(new Error(`accept: ${errname(err)}`), { code: errname(err) }));
      return;
    }
    const peer: Record<string, unknown> = {};
    if (handle.getpeername(peer) !== 0 || typeof peer['address'] !== 'string') {
      // Already reset by the peer before we saw it.
      handle.close();
      return;
    }
    this.accepted++;
    const rawIp = peer['address'];
    const family = String(peer['family'] ?? 'IPv4');
    const port = Number(peer['port'] ?? 0);
    const ip = normaliseIp(rawIp);
    const why = this.admit(rawIp, family);
    if (why !== null) {
      handle.close();
      this.logDenied(ip, port, why);
      return;
    }
    let session: SweptSession;
    if (tcpRelay !== null) {
      session = new NativeTcpSession(tcpRelay, this, handle, ip, port, rawIp);
    } else {
      handle.setNoDelay(true);
      session = new RawTcpSession(raw!, this, handle, ip, port, rawIp);
    }
    this.sessions.add(session);
    this.connecting.add(session);
    this.sessionsTotal++;
    session.start();
  };

  private reject(socket: Socket, ip: string, why: string): void {
    socket.on('error', noop);
    socket.destroy();
    this.logDenied(ip, socket.remotePort ?? 0, why);
  }

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

  private readonly onServerError = (err: NodeJS.ErrnoException): void => {
    this.log.error({ err: { code: err.code, message: err.message } }, 'accept error');
  };
}

function noop(): void {}
