// A UDP listener: one dgram socket; each datagram is looked up by its source address:port
// (one Map lookup, O(1)); a miss goes through admission (ACL per datagram source, session
// limits) and the pool, and opens a UdpSession. Denied, over-limit and unroutable datagrams
// are dropped and counted, never answered. Sessions expire after session_timeout without
// traffic either way, found by one coarse sweep timer per listener, never a timer per packet.
import dgram, { type Socket as DgramSocket, type RemoteInfo } from 'node:dgram';
import type { ListenerConfig } from '../../config/types.js';
import type { Logger } from '../../log/logger.js';
import type { Pool } from '../../pool/pool.js';
import type { ConnectionBudget } from '../budget.js';
import type { EndReason } from '../../log/end-reason.js';
import { BindError } from '../../errors.js';
import { Acl, formatHostPort, normaliseIp } from '../admission.js';
import { DrainWait } from '../drain-wait.js';
import { sweepEvery } from '../sweep.js';
import { UdpSession } from './udp-session.js';
import { rawUdp, type UdpHandle } from './raw-udp.js';
import { batchUdp, errnoError, META_FAMILY, META_LEN, META_PORT, type BatchOwner } from './batch-udp.js';
import { errname } from '../errno.js';

/**
 * Socket buffers: the kernel doubles the request (2 MiB here), room for a burst of a few
 * thousand datagrams. Bigger is worse under sustained overload: with 4 MiB requested, a Node
 * relay flooded by sockperf returned 13.5k datagrams/s against 18.9k with 1 MiB and 19.1k
 * with the kernel default (medians of 7 interleaved runs).
 */
const SOCKET_BUFFER_BYTES = 1024 * 1024;

/** When the process last logged send drops of the batched path (one clock for all listeners). */
let lastSendDropLog = -Infinity;

export interface UdpDrops {
  denied: number;
  limit: number;
  noBackend: number;
  closing: number;
}

export class UdpListener implements BatchOwner {
  readonly name: string;
  readonly protocol = 'udp' as const;
  config: ListenerConfig;
  pool: Pool;
  readonly log: Logger;
  private acl: Acl;
  private readonly budget: ConnectionBudget;
  /** The dgram socket, or null on the batched path (batch-udp.ts), which owns its own. */
  private readonly socket: DgramSocket | null;
  /** The listener's socket in the batch addon, or -1 (not bound, or not the batched path). */
  batchId = -1;
  private bound: { address: string; port: number } | null = null;
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
  /** When the last 'no upstream socket' warning was logged (they are said once a second). */
  private lastSocketWarnMs = -Infinity;
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
    if (batchUdp !== null) {
      this.socket = null;
      return;
    }
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
    const socket = this.socket;
    if (socket === null) {
      try {
        this.batchId = batchUdp!.open(this, this.six ? 6 : 4, host, port, false, SOCKET_BUFFER_BYTES);
        batchUdp!.start(this.batchId);
      } catch (err) {
        if (this.batchId >= 0) batchUdp!.close(this.batchId);
        this.batchId = -1;
        throw new BindError(this.name, this.config.bind.text, err as NodeJS.ErrnoException);
      }
      this.bound = batchUdp!.local(this.batchId);
    } else {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: NodeJS.ErrnoException): void => reject(new BindError(this.name, this.config.bind.text, err));
        socket.once('error', onError);
        socket.bind({ port, address: host === '' ? undefined : host }, () => {
          socket.off('error', onError);
          resolve();
        });
      });
      this.bound = socket.address();
      this.handle = rawUdp?.handleOf(socket) ?? null;
      if (this.handle !== null) this.handle.onmessage = this.onRawMessage;
    }
    this.socketOpen = true;
    this.startSweep();
    this.log.info({ bind: this.boundAddress(), protocol: 'udp', pool: this.pool.name, datapath: this.datapath }, 'listening');
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

  /** Which datagram path serves this listener: the batched addon, dgram's handle, or dgram. */
  get datapath(): 'batch' | 'handles' | 'dgram' {
    return this.socket === null ? 'batch' : this.handle !== null ? 'handles' : 'dgram';
  }

  get port(): number {
    return this.socketOpen && this.bound !== null ? this.bound.port : 0;
  }

  /** True while the socket is open (sessions send replies through it). */
  get open(): boolean {
    return this.socketOpen;
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
      const socket = this.socket;
      if (socket === null) {
        batchUdp!.close(this.batchId);
        this.batchId = -1;
      } else {
        await new Promise<void>((resolve) => socket.close(() => resolve()));
      }
    }
  }

  /** Send a backend's reply to the client from the listener's own address. */
  reply(msg: Buffer, port: number, address: string): void {
    if (!this.socketOpen) return;
    this.datagramsOut++;
    if (this.handle !== null) rawUdp!.send(this.handle, this.six, [msg], port, address);
    else this.socket?.send(msg, port, address);
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
    const s = this.openSession(key ?? rinfo.address + ' ' + rinfo.port, rinfo.address, rinfo.family, rinfo.port, -1);
    s?.send(msg);
  };

  /**
   * The batched path (batch-udp.ts): datagrams in arena slots 0..count-1. The same steps as
   * onMessage, with the source compared as numbers from the slot's metadata; the address text
   * is built only when the port lookup misses.
   */
  onBatch(count: number): void {
    if (count < 0) {
      this.onSocketError(errnoError('recvmmsg', count));
      return;
    }
    const batch = batchUdp!;
    const meta = batch.meta;
    const words = batch.metaWords;
    this.datagramsIn += count;
    for (let i = 0; i < count; i++) {
      const o = i * words;
      const port = meta[o + META_PORT]!;
      let existing = this.byPort.get(port);
      let address: string | null = null;
      let key: string | null = null;
      if (existing === undefined || !existing.sameSource(meta, o)) {
        address = batch.slotAddress(i);
        key = address + ' ' + port;
        existing = this.sessions.get(key);
        if (existing !== undefined) this.byPort.set(port, existing);
      }
      if (existing !== undefined) {
        if (existing.backend.state !== 'down') {
          existing.sendSlot(i, meta[o + META_LEN]!);
          continue;
        }
        existing.close('backend_closed', 'backend_down');
      }
      address ??= batch.slotAddress(i);
      const family = meta[o + META_FAMILY] === 4 ? 'IPv4' : 'IPv6';
      this.openSession(key ?? address + ' ' + port, address, family, port, i)?.sendSlot(i, meta[o + META_LEN]!);
    }
  }

  /** Admission, pick and a new session; null (and the datagram counted as dropped) when refused. */
  private openSession(key: string, address: string, family: string, port: number, slot: number): UdpSession | null {
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
    let s: UdpSession;
    try {
      s = new UdpSession(this, key, address, clientIp, port, backend, performance.now(), slot);
    } catch (err) {
      // No socket for the session (EMFILE, ENOBUFS...): the datagram is dropped, said once a second.
      this.budget.release();
      this.drops.limit++;
      const now = performance.now();
      if (now - this.lastSocketWarnMs >= 1000) {
        this.lastSocketWarnMs = now;
        const e = err as NodeJS.ErrnoException;
        this.log.warn({ backend: backend.key, code: e.code ?? e.message }, 'udp session refused: no upstream socket');
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
      if (this.socket === null) this.reportSendDrops(now);
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
   * Batched path: datagrams the kernel refused to send (a full socket buffer under a flood,
   * or an ICMP error) are counted by the addon for the whole process; a warning with their
   * number is logged at most every 10 s while they occur (the first listener to sweep says it).
   */
  private reportSendDrops(now: number): void {
    if (now - lastSendDropLog < 10_000) return;
    const dropped = batchUdp!.takeSendDrops();
    if (dropped === 0) return;
    lastSendDropLog = now;
    this.log.warn({ dropped }, 'udp datagrams dropped on send (socket buffer full or ICMP error)');
  }

  private stopSweep(): void {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  private readonly onSocketError = (err: NodeJS.ErrnoException): void => {
    this.log.error({ err: { code: err.code, message: err.message } }, 'udp socket error');
  };
}
