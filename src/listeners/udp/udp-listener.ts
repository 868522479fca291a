// A UDP listener: a receive front-end on the listener's data path (batch-front.ts, native;
// dgram-front.ts, portable) finds each datagram's session by its source; a miss comes here
// for admission (ACL per datagram source, session limits, lb's descriptor budget) and the
// pool, and opens a UdpSession. Denied, over-limit and unroutable datagrams are dropped and
// counted, never answered. Sessions expire after session_timeout without traffic either way,
// found by one coarse sweep timer per listener, never a timer per packet.
import type { ListenerConfig } from '../../config/types.js';
import type { Logger } from '../../log/logger.js';
import type { Pool } from '../../pool/pool.js';
import type { EndReason } from '../../log/end-reason.js';
import { BindError } from '../../errors.js';
import { countLocalError, isLocalError } from '../../local-errors.js';
import { type ConnectionBudget, fdBudget } from '../budget.js';
import { formatHostPort, normaliseIp } from '../admission.js';
import { sweepEvery } from '../sweep.js';
import { PathListener } from '../datapath.js';
import { UdpSession, type UdpSessionOwner } from './udp-session.js';
import type { UdpRouter } from './udp-router.js';
import { DgramFront } from './dgram-front.js';
import { BatchFront } from './batch-front.js';

/**
 * Socket buffers: the kernel doubles the request (2 MiB here), room for a burst of a few
 * thousand datagrams. Bigger is worse under sustained overload: with 4 MiB requested, a Node
 * relay flooded by sockperf returned 13.5k datagrams/s against 18.9k with 1 MiB and 19.1k
 * with the kernel default (medians of 7 interleaved runs).
 */
const SOCKET_BUFFER_BYTES = 1024 * 1024;

/** When the process last logged send drops of the native path (one clock for all listeners). */
let lastSendDropLog = -Infinity;

export interface UdpDrops {
  denied: number;
  limit: number;
  noBackend: number;
  closing: number;
}

export class UdpListener extends PathListener implements UdpRouter, UdpSessionOwner {
  private readonly front: DgramFront | BatchFront;
  private bound: { address: string; port: number } | null = null;
  readonly sessions = new Map<string, UdpSession>();
  readonly byPort = new Map<number, UdpSession>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private socketOpen = false;
  /** When the last 'no upstream socket' warning was logged (they are said once a second). */
  private lastSocketWarnMs = -Infinity;
  /** Counters read by status and metrics, beside the base's. */
  datagramsIn = 0;
  datagramsOut = 0;
  readonly drops: UdpDrops = { denied: 0, limit: 0, noBackend: 0, closing: 0 };

  constructor(config: ListenerConfig, pool: Pool, budget: ConnectionBudget, log: Logger) {
    super('udp', config, pool, budget, log);
    const { host, family } = config.bind;
    // An all-interfaces bind is dual-stack: IPv4 clients arrive as ::ffff:a.b.c.d.
    const six = host === '' || family === 6;
    this.front = this.datapath === 'native' ? new BatchFront(this, six, SOCKET_BUFFER_BYTES) : new DgramFront(this, six ? 'udp6' : 'udp4', SOCKET_BUFFER_BYTES);
  }

  get activeSessions(): number {
    return this.sessions.size;
  }

  /** The listener socket's id in the batch addon (native), or -1. */
  get batchId(): number {
    return this.front.batchId;
  }

  async listen(): Promise<void> {
    const { host, port } = this.config.bind;
    try {
      this.bound = await this.front.listen(host, port);
    } catch (err) {
      throw new BindError(this.name, this.config.bind.text, err as NodeJS.ErrnoException);
    }
    this.socketOpen = true;
    this.startSweep();
    this.listening();
  }

  boundAddress(): string {
    if (!this.socketOpen || this.bound === null) return this.config.bind.text;
    return formatHostPort(this.bound.address, this.bound.port);
  }

  /**
   * The destination for PROXY headers: the bound address. A wildcard bind cannot know which
   * local address a datagram was sent to (node:dgram has no IP_PKTINFO), so it reports the
   * wildcard (0.0.0.0 or ::).
   */
  localEndpoint(): { ip: string; port: number } {
    if (!this.socketOpen || this.bound === null) return { ip: '0.0.0.0', port: 0 };
    return { ip: this.bound.address, port: this.bound.port };
  }

  get port(): number {
    return this.socketOpen && this.bound !== null ? this.bound.port : 0;
  }

  /** True while the socket is open (sessions send replies through it). */
  get open(): boolean {
    return this.socketOpen;
  }

  reconfigure(config: ListenerConfig, pool: Pool, _pools?: ReadonlyMap<string, Pool>): void {
    if (this.adopt(config, pool).sessionTimeoutMs !== config.sessionTimeoutMs) this.startSweep();
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
      await this.front.close();
    }
  }

  /** @internal session owner (portable): a backend's reply, from the listener's own address. */
  reply(msg: Buffer, port: number, address: string): void {
    if (!this.socketOpen) return;
    this.datagramsOut++;
    this.front.reply(msg, port, address);
  }

  /** @internal session owner: called once per session, when it ends. */
  sessionEnded(s: UdpSession): void {
    if (this.sessions.get(s.key) !== s) return;
    this.sessions.delete(s.key);
    if (this.byPort.get(s.clientPort) === s) this.byPort.delete(s.clientPort);
    this.budget.release();
    fdBudget.give(1);
    if (this.sessions.size === 0) this.drainWait.emptied();
  }

  /** @internal front-end: admission, pick and a new session; null when refused. */
  openSession(key: string, address: string, family: string, port: number, slot: number): UdpSession | null {
    if (this.closing) {
      this.drops.closing++;
      return null;
    }
    if (!this.acl.permits(address, family)) {
      this.drops.denied++;
      this.debugDrop(address, port, 'acl');
      return null;
    }
    if (this.sessions.size >= this.config.maxConnections || !this.budget.tryAcquire()) {
      this.drops.limit++;
      this.debugDrop(address, port, 'max_connections');
      return null;
    }
    const clientIp = normaliseIp(address);
    const backend = this.pool.pick({ clientIp, clientPort: port }, null);
    if (backend === undefined) {
      this.budget.release();
      this.drops.noBackend++;
      this.debugDrop(address, port, 'no_backend');
      return null;
    }
    let s: UdpSession | null = null;
    let failure: string | null = null;
    if (!fdBudget.tryTake(1)) {
      failure = 'EMFILE';
    } else {
      try {
        s = new UdpSession(this, this.pool, key, address, clientIp, port, backend, performance.now(), slot);
      } catch (err) {
        fdBudget.give(1);
        const e = err as NodeJS.ErrnoException;
        failure = e.code ?? e.message;
      }
    }
    if (s === null) {
      // No socket for the session (EMFILE, ENOBUFS...): the datagram is dropped, said once a second.
      this.budget.release();
      this.drops.limit++;
      if (isLocalError(failure!)) countLocalError(failure!);
      const now = performance.now();
      if (now - this.lastSocketWarnMs >= 1000) {
        this.lastSocketWarnMs = now;
        this.log.warn({ backend: backend.key, code: failure, end: 'local_error' }, 'udp session refused: no upstream socket');
      }
      return null;
    }
    this.sessions.set(key, s);
    this.byPort.set(port, s);
    this.sessionsTotal++;
    return s;
  }

  private debugDrop(address: string, port: number, why: string): void {
    if (this.log.isLevelEnabled('debug')) this.log.debug({ client: formatHostPort(normaliseIp(address), port), why }, 'datagram dropped');
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
      this.reportSendDrops(now);
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

  /**
   * Native path: datagrams the kernel refused to send (a full socket buffer under a flood, or
   * an ICMP error) are counted by the addon for the whole process; a warning with their
   * number is logged at most every 10 s while they occur (the first listener to sweep says it).
   */
  private reportSendDrops(now: number): void {
    if (now - lastSendDropLog < 10_000) return;
    const dropped = this.front.takeSendDrops();
    if (dropped === 0) return;
    lastSendDropLog = now;
    this.log.warn({ dropped }, 'udp datagrams dropped on send (socket buffer full or ICMP error)');
  }

  private stopSweep(): void {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  /** @internal front-end: a receive error on the listener's socket. */
  socketError(err: NodeJS.ErrnoException): void {
    this.log.error({ err: { code: err.code, message: err.message } }, 'udp socket error');
  }
}
