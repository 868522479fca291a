// A UDP listener: one dgram socket; each datagram is looked up by its source address:port
// (one Map lookup, O(1)); a miss goes through admission (ACL per datagram source, session
// limits) and the pool, and opens a UdpSession. Denied, over-limit and unroutable datagrams
// are dropped and counted, never answered. Sessions expire after session_timeout without
// traffic either way, found by one coarse sweep timer per listener, never a timer per packet.
import dgram, { type Socket as DgramSocket, type RemoteInfo } from 'node:dgram';
import type { ListenerConfig } from '../../config/types.js';
import type { Logger } from '../../log/logger.js';
import type { Pool } from '../../pool/pool.js';
import type { ConnectionBudget } from '../../runtime/limits.js';
import type { EndReason } from '../../log/end-reason.js';
import { BindError } from '../../errors.js';
import { Acl, formatHostPort, normaliseIp } from '../admission.js';
import { DrainWait } from '../drain-wait.js';
import { sweepEvery } from '../sweep.js';
import { UdpSession } from './udp-session.js';
import { rawUdp, type UdpHandle } from './raw-udp.js';
import { errname } from '../errno.js';

/**
 * Socket buffers: the kernel doubles the request (2 MiB here), room for a burst of a few
 * thousand datagrams. Bigger is worse under sustained overload: with 4 MiB requested, a Node
 * relay flooded by sockperf returned 13.5k datagrams/s against 18.9k with 1 MiB and 19.1k
 * with the kernel default (medians of 7 interleaved runs).
 */
const SOCKET_BUFFER_BYTES = 1024 * 1024;

export interface UdpDrops {
  denied: number;
  limit: number;
  noBackend: number;
  closing: number;
}

export class UdpListener {
  readonly name: string;
  readonly protocol = 'udp' as const;
  config: ListenerConfig;
  pool: Pool;
  readonly log: Logger;
  private acl: Acl;
  private readonly budget: ConnectionBudget;
  private readonly socket: DgramSocket;
  readonly sessions = new Map<string, UdpSession>();
  /**
   * The latest session of each client port. Most datagrams find their session here with a
   * number key and one string compare, without building the "address port" key string.
   */
  private readonly byPort = new Map<number, UdpSession>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private closing = false;
  private socketOpen = false;
  private readonly drainWait = new DrainWait();
  /** The bound socket's handle when datagrams bypass dgram's send() and events (raw-udp.ts). */
  private handle: UdpHandle | null = null;
  private readonly six: boolean;
  /** Counters read by status and metrics. */
  datagramsIn = 0;
  datagramsOut = 0;
  sessionsTotal = 0;
  bytesIn = 0;
  bytesOut = 0;
  readonly drops: UdpDrops = { denied: 0, limit: 0, noBackend: 0, closing: 0 };

  constructor(config: ListenerConfig, pool: Pool, budget: ConnectionBudget, log: Logger) {
    this.name = config.name;
    this.config = config;
    this.pool = pool;
    this.budget = budget;
    this.log = log.child({ listener: config.name });
    this.acl = new Acl(config.allow, config.deny);
    const { host, family } = config.bind;
    // An all-interfaces bind is dual-stack: IPv4 clients arrive as ::ffff:a.b.c.d.
    const type = host === '' || family === 6 ? 'udp6' : 'udp4';
    this.six = type === 'udp6';
    this.socket = dgram.createSocket({
      type,
      ipv6Only: false,
      recvBufferSize: SOCKET_BUFFER_BYTES,
      sendBufferSize: SOCKET_BUFFER_BYTES,
    });
    this.socket.on('error', this.onSocketError);
    this.socket.on('message', this.onMessage);
  }

  get activeSessions(): number {
    return this.sessions.size;
  }

  async listen(): Promise<void> {
    const { host, port } = this.config.bind;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => reject(new BindError(this.name, this.config.bind.text, err));
      this.socket.once('error', onError);
      this.socket.bind({ port, address: host === '' ? undefined : host }, () => {
        this.socket.off('error', onError);
        resolve();
      });
    });
    this.socketOpen = true;
    this.handle = rawUdp?.handleOf(this.socket) ?? null;
    if (this.handle !== null) this.handle.onmessage = this.onRawMessage;
    this.startSweep();
    this.log.info({ bind: this.boundAddress(), protocol: 'udp', pool: this.pool.name }, 'listening');
  }

  boundAddress(): string {
    if (!this.socketOpen) return this.config.bind.text;
    const a = this.socket.address();
    return formatHostPort(a.address, a.port);
  }

  /**
   * The destination for PROXY headers: the bound address. A wildcard bind cannot know which
   * local address a datagram was sent to (node:dgram has no IP_PKTINFO), so it reports the
   * wildcard (0.0.0.0 or ::).
   */
  localEndpoint(): { ip: string; port: number } {
    if (!this.socketOpen) return { ip: '0.0.0.0', port: 0 };
    const a = this.socket.address();
    return { ip: a.address, port: a.port };
  }

  get port(): number {
    return this.socketOpen ? this.socket.address().port : 0;
  }

  reconfigure(config: ListenerConfig, pool: Pool, _pools?: ReadonlyMap<string, Pool>): void {
    const sweepChanged = config.sessionTimeoutMs !== this.config.sessionTimeoutMs;
    this.config = config;
    this.pool = pool;
    this.acl = new Acl(config.allow, config.deny);
    if (sweepChanged) this.startSweep();
  }

  /** No new sessions; existing ones keep flowing through the (still open) socket. */
  async stopAccepting(): Promise<void> {
    this.closing = true;
  }

  async drain(deadlineMs: number, reason: EndReason): Promise<void> {
    this.closing = true;
    await this.drainWait.until(this.sessions.size, deadlineMs);
    for (const s of [...this.sessions.values()]) s.close(reason);
    this.stopSweep();
    if (this.socketOpen) {
      this.socketOpen = false;
      await new Promise<void>((resolve) => this.socket.close(() => resolve()));
    }
  }

  /** Send a backend's reply to the client from the listener's own address. */
  reply(msg: Buffer, port: number, address: string): void {
    if (!this.socketOpen) return;
    this.datagramsOut++;
    if (this.handle !== null) rawUdp!.send(this.handle, this.six, [msg], port, address);
    else this.socket.send(msg, port, address);
  }

  /** Called by a session exactly once, when it ends. */
  sessionEnded(s: UdpSession): void {
    if (this.sessions.get(s.key) !== s) return;
    this.sessions.delete(s.key);
    if (this.byPort.get(s.clientPort) === s) this.byPort.delete(s.clientPort);
    this.budget.release();
    if (this.sessions.size === 0) this.drainWait.emptied();
  }

  /** The handle's receive callback (raw path): what dgram's own would do, minus the emit. */
  private readonly onRawMessage = (nread: number, _h: UdpHandle, msg: Buffer, rinfo: RemoteInfo): void => {
    if (nread < 0) this.onSocketError(Object.assign(new Error(`recvmsg ${errname(nread)}`), { code: errname(nread) }));
    else this.onMessage(msg, rinfo);
  };

  private readonly onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
    this.datagramsIn++;
    let existing = this.byPort.get(rinfo.port);
    let key: string | null = null;
    if (existing === undefined || existing.address !== rinfo.address) {
      // Another client behind the same port number: the full key, one string per datagram.
      key = rinfo.address + ' ' + rinfo.port;
      existing = this.sessions.get(key);
      if (existing !== undefined) this.byPort.set(rinfo.port, existing);
    }
    if (existing !== undefined) {
      // A session whose backend went down moves to another backend on its next datagram.
      if (existing.backend.state !== 'down') {
        existing.send(msg);
        return;
      }
      existing.close('backend_closed', 'backend_down');
    }
    this.openSession(key ?? rinfo.address + ' ' + rinfo.port, msg, rinfo, performance.now());
  };

  private openSession(key: string, msg: Buffer, rinfo: RemoteInfo, now: number): void {
    if (this.closing) {
      this.drops.closing++;
      return;
    }
    if (!this.acl.permits(rinfo.address, rinfo.family)) {
      this.drops.denied++;
      this.debugDrop(rinfo, 'acl');
      return;
    }
    if (this.sessions.size >= this.config.maxConnections || !this.budget.tryAcquire()) {
      this.drops.limit++;
      this.debugDrop(rinfo, 'max_connections');
      return;
    }
    const clientIp = normaliseIp(rinfo.address);
    const backend = this.pool.pick({ clientIp, clientPort: rinfo.port }, null);
    if (backend === undefined) {
      this.budget.release();
      this.drops.noBackend++;
      this.debugDrop(rinfo, 'no_backend');
      return;
    }
    const s = new UdpSession(this, key, rinfo.address, clientIp, rinfo.port, backend, now);
    this.sessions.set(key, s);
    this.byPort.set(rinfo.port, s);
    this.sessionsTotal++;
    s.send(msg);
  }

  private debugDrop(rinfo: RemoteInfo, why: string): void {
    if (this.log.isLevelEnabled('debug')) this.log.debug({ client: formatHostPort(normaliseIp(rinfo.address), rinfo.port), why }, 'datagram dropped');
  }

  /** One timer per listener: expire sessions idle for session_timeout. O(sessions) per tick. */
  private startSweep(): void {
    this.stopSweep();
    const timeout = this.config.sessionTimeoutMs;
    // Expiry is late by at most two tenths of the timeout (one sweep to see the last
    // datagram, one to find the session quiet; a tenth is 10 ms .. 1 s), never early.
    const every = sweepEvery(timeout);
    this.sweepTimer = setInterval(() => {
      const now = performance.now();
      const cutoff = now - timeout;
      for (const s of this.sessions.values()) {
        if (s.active) {
          s.active = false;
          s.lastSeenMs = now;
        } else if (s.lastSeenMs <= cutoff) {
          s.close('idle_timeout');
        }
      }
    }, every);
    this.sweepTimer.unref();
  }

  private stopSweep(): void {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  private readonly onSocketError = (err: NodeJS.ErrnoException): void => {
    this.log.error({ err: { code: err.code, message: err.message } }, 'udp socket error');
  };
}
