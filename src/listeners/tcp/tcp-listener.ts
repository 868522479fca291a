// A TCP listener: accept → admission (ACL, listener and global limits, lb's descriptor
// budget) → a TcpSession on the listener's data path. On `native` the relay addon owns the
// listening socket and accepts (native-path.ts: the session owns the accepted fd, no
// net.Socket is ever made); where net.Server must accept (`portable`, and workers, which
// share the socket through the cluster module), the accepted net.Socket is spliced
// (portable-path.ts) or, natively in a worker, its fd duplicated into the relay. Idle and
// connect timeouts of every session are checked by two sweeps per listener, not a timer per
// session.
import cluster from 'node:cluster';
import net, { type Server, type Socket } from 'node:net';
import type { ListenerConfig } from '../../config/types.js';
import type { Logger } from '../../log/logger.js';
import type { Pool } from '../../pool/pool.js';
import type { EndReason } from '../../log/end-reason.js';
import { logAccess } from '../../log/access.js';
import { countLocalError, isLocalError } from '../../local-errors.js';
import { type ConnectionBudget, fdBudget } from '../budget.js';
import { formatHostPort, normaliseIp } from '../admission.js';
import { addressOf, BACKLOG, listenOn } from '../bind.js';
import { BindError } from '../../errors.js';
import { errname } from '../errno.js';
import { sweepEvery } from '../sweep.js';
import { PathListener } from '../datapath.js';
import { socketFd } from '../node-internals.js';
import { encodeProxyV1, encodeProxyV2 } from '../proxy-protocol.js';
import { TcpSession, type TcpSessionOwner } from './tcp-session.js';
import { NativePath } from './native-path.js';
import { PortablePath } from './portable-path.js';
import { tcpRelay, type AcceptOwner } from './tcp-relay.js';

/** Descriptors a TCP session holds: the client's and the backend's. */
const SESSION_FDS = 2;
/** After the relay's accept failed on lb's own resources, it takes clients again this much later. */
const ACCEPT_PAUSE_MS = 50;

/** Why admission refused a client: close it plainly, or reset it (lb's own limits). */
type Refusal = 'close' | 'reset';

export class TcpListener extends PathListener implements TcpSessionOwner, AcceptOwner {
  /** The accepting net.Server, where the relay does not accept itself. */
  private readonly server: Server | null;
  /** The relay's listening socket, while it listens. */
  private lid: number | null = null;
  private isListening = false;
  private acceptPause: NodeJS.Timeout | null = null;
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
    if (native && !cluster.isWorker) {
      this.server = null;
      return;
    }
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
    if (this.server !== null) {
      await listenOn(this.server, this.name, this.config.bind, this.onServerError);
    } else {
      const bind = this.config.bind;
      try {
        this.lid = tcpRelay!.listen(this, bind.host === '' ? 0 : bind.family === 6 ? 6 : 4, bind.host, bind.port, BACKLOG);
      } catch (err) {
        throw new BindError(this.name, bind.text, err as NodeJS.ErrnoException);
      }
    }
    this.isListening = true;
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
    if (this.server !== null) return addressOf(this.server, this.config.bind);
    const a = this.lid === null ? null : tcpRelay!.sockname(this.lid, true);
    return a === null ? this.config.bind.text : formatHostPort(a[0], a[1]);
  }

  get port(): number {
    if (this.server === null) {
      const a = this.lid === null ? null : tcpRelay!.sockname(this.lid, true);
      return a === null ? 0 : a[1];
    }
    const a = this.server.address();
    return a !== null && typeof a !== 'string' ? a.port : 0;
  }

  /** Apply a new config for the same bind (reload): new sessions see it, open ones keep theirs. */
  reconfigure(config: ListenerConfig, pool: Pool, _pools?: ReadonlyMap<string, Pool>): void {
    const old = this.adopt(config, pool);
    const timeoutsChanged = config.idleTimeoutMs !== old.idleTimeoutMs || config.connectTimeoutMs !== old.connectTimeoutMs;
    if (timeoutsChanged && this.isListening) this.startSweeps();
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
    if (!this.isListening) return;
    this.isListening = false;
    if (this.acceptPause !== null) clearTimeout(this.acceptPause);
    if (this.lid !== null) {
      tcpRelay!.unlisten(this.lid);
      this.lid = null;
    }
    const server = this.server;
    if (server !== null && server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
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

  /**
   * Admission of a client at rawIp:port: its new session, or why it is refused (denied
   * clients are logged and counted here; lb's own limits are counted and warned of).
   */
  private admit(rawIp: string, family: string, port: number): TcpSession | Refusal {
    this.accepted++;
    const ip = normaliseIp(rawIp);
    const why = this.admitClient(rawIp, family, this.sessions.size);
    if (why !== null) {
      this.logDenied(ip, port, why);
      return 'close';
    }
    if (!fdBudget.tryTake(SESSION_FDS)) {
      this.budget.release();
      this.refusedLocally('EMFILE');
      return 'reset';
    }
    const session = new TcpSession(this, this.pool, ip, port);
    this.sessions.add(session);
    this.connecting.add(session);
    this.sessionsTotal++;
    return session;
  }

  /** @internal the relay accepted a client (fd >= 0), or failed to on lb's own resources (-errno; it is paused). */
  onAccept(fd: number, ip: string, port: number): void {
    const relay = tcpRelay!;
    if (fd < 0) {
      this.refusedLocally(errname(fd));
      this.acceptPause = setTimeout(() => {
        this.acceptPause = null;
        if (this.lid !== null) relay.resume(this.lid);
      }, ACCEPT_PAUSE_MS);
      return;
    }
    const session = this.admit(ip, ip.includes(':') ? 'IPv6' : 'IPv4', port);
    if (typeof session === 'string') {
      relay.closeFd(fd, session === 'reset');
      return;
    }
    const pp = this.config.proxyProtocol;
    let header: Buffer | null = null;
    if (pp !== 'off') {
      const local = relay.sockname(fd, false);
      header = proxyHeader(pp, ip, port, local?.[0] ?? '', local?.[1] ?? 0);
    }
    this.startNative(session, fd, header, true, () => relay.closeFd(fd, true));
  }

  /** A session on the relay for a client fd (owned: the relay's own accept); `refuse` lets go of the client when it cannot start. */
  private startNative(session: TcpSession, fd: number, header: Buffer | null, owned: boolean, refuse: () => void): void {
    let path: NativePath;
    try {
      path = new NativePath(tcpRelay!, session, fd, header, owned);
    } catch (err) {
      refuse();
      session.failStart((err as NodeJS.ErrnoException).code ?? 'EINVAL');
      return;
    }
    session.start(path);
  }

  private readonly onConnection = (socket: Socket): void => {
    const rawIp = socket.remoteAddress;
    if (rawIp === undefined) {
      // Already reset by the peer before we saw it.
      letGo(socket, false);
      return;
    }
    const port = socket.remotePort ?? 0;
    const session = this.admit(rawIp, socket.remoteFamily ?? 'IPv4', port);
    if (typeof session === 'string') {
      letGo(socket, session === 'reset');
      return;
    }
    const pp = this.config.proxyProtocol;
    const header = pp === 'off' ? null : proxyHeader(pp, rawIp, port, socket.localAddress ?? '', socket.localPort ?? 0);
    const fd = this.datapath === 'native' ? socketFd(socket) : -1;
    if (fd < 0) {
      session.start(new PortablePath(session, socket, header));
      return;
    }
    this.startNative(session, fd, header, false, () => letGo(socket, true));
    // The relay holds its own copy of the fd: the net.Socket closes only its descriptor.
    if (!socket.destroyed) letGo(socket, false);
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
function proxyHeader(version: 'v1' | 'v2', ip: string, port: number, localIp: string, localPort: number): Buffer {
  const src = { ip, port };
  const dst = { ip: localIp, port: localPort };
  return version === 'v1' ? encodeProxyV1(src, dst) : encodeProxyV2(src, dst, 'stream');
}

/** Close an accepted socket lb does not keep (with RST when `reset`); its late errors are ignored. */
function letGo(socket: Socket, reset: boolean): void {
  socket.on('error', noop);
  if (reset) socket.resetAndDestroy();
  else socket.destroy();
}

function noop(): void {}
