// A TCP listener: one net.Server; accept → admission (ACL, listener and global limits) →
// TcpSession. Accepted sockets start paused (pauseOnConnect) and half-open capable, so no
// client byte is read before its backend is connected and a FIN can be passed on alone.
import net, { type Server, type Socket } from 'node:net';
import type { ListenerConfig } from '../../config/types.js';
import type { Logger } from '../../log/logger.js';
import type { Pool } from '../../pool/pool.js';
import type { ConnectionBudget } from '../../runtime/limits.js';
import type { EndReason } from '../../log/end-reason.js';
import { logAccess } from '../../log/access.js';
import { Acl, formatHostPort, normaliseIp } from '../admission.js';
import { listenOn } from '../bind.js';
import { DrainWait } from '../drain-wait.js';
import { TcpSession } from './tcp-session.js';


export class TcpListener {
  readonly name: string;
  config: ListenerConfig;
  pool: Pool;
  readonly log: Logger;
  private acl: Acl;
  private readonly budget: ConnectionBudget;
  private readonly server: Server;
  readonly sessions = new Set<TcpSession>();
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
    this.log.info({ bind: this.boundAddress(), protocol: 'tcp', pool: this.pool.name }, 'listening');
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
    this.config = config;
    this.pool = pool;
    this.acl = new Acl(config.allow, config.deny);
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
  }

  /** Called by a session exactly once, when it ends. */
  sessionEnded(s: TcpSession): void {
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
    let why: string | null = null;
    if (this.closing) why = 'shutdown';
    else if (!this.acl.permits(rawIp, socket.remoteFamily ?? 'IPv4')) why = 'acl';
    else if (this.sessions.size >= this.config.maxConnections) why = 'listener_max_connections';
    else if (!this.budget.tryAcquire()) why = 'global_max_connections';
    if (why !== null) {
      this.reject(socket, ip, why);
      return;
    }
    const session = new TcpSession(this, socket, ip);
    this.sessions.add(session);
    this.sessionsTotal++;
    session.start();
  };

  private reject(socket: Socket, ip: string, why: string): void {
    this.denied++;
    socket.on('error', noop);
    socket.destroy();
    logAccess(this.log, {
      client: formatHostPort(ip, socket.remotePort),
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
