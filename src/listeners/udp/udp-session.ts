// One UDP session: a client address:port paired with one backend through its own upstream
// dgram socket, connect()ed to the backend so the kernel filters replies to that peer and
// reports ICMP unreachable as ECONNREFUSED. Replies go back to the client from the
// listener's socket (the address the client sent to). Datagram boundaries are kept: one
// datagram in, one datagram out, never merged or split.
// Invariants: a session ends once (first reason wins) and releases its slots exactly once;
// nothing is allocated per datagram beyond what node:dgram itself allocates.
import dgram, { type Socket as DgramSocket } from 'node:dgram';
import type { Backend } from '../../pool/backend.js';
import type { Pool } from '../../pool/pool.js';
import type { EndReason } from '../../log/end-reason.js';
import { logSessionEnd } from '../../log/access.js';
import { formatHostPort } from '../admission.js';
import { encodeProxyV2 } from '../proxy-protocol.js';
import type { UdpListener } from './udp-listener.js';
import { rawUdp, type UdpHandle } from './raw-udp.js';
import { errname } from '../errno.js';

/** Datagrams held while the upstream socket connects; more are dropped (and counted). */
const MAX_PENDING = 64;

export class UdpSession {
  readonly key: string;
  readonly clientIp: string;
  /** The address as the listener socket reports it (the port lookup compares it). */
  get address(): string {
    return this.replyAddress;
  }
  readonly clientPort: number;
  /** The address as the listener socket reported it (mapped form kept, for sending back). */
  private readonly replyAddress: string;
  readonly backend: Backend;
  private readonly pool: Pool;
  private readonly listener: UdpListener;
  private readonly upstream: DgramSocket;
  /** The connected upstream socket's handle when datagrams bypass dgram (raw-udp.ts). */
  private handle: UdpHandle | null = null;
  private connected = false;
  private pending: Buffer[] | null = [];
  private done = false;
  /**
   * Set by every datagram either way; the listener's sweep clears it and records the sweep's
   * time in lastSeenMs, so no clock is read per datagram.
   */
  active = false;
  lastSeenMs: number;
  private readonly startMs: number;
  bytesIn = 0;
  bytesOut = 0;
  packetsIn = 0;
  packetsOut = 0;
  dropped = 0;
  private backendLocal: string | null = null;
  /**
   * PROXY v2 (DGRAM) header, sent in front of every datagram to the backend: a datagram
   * receiver has no connection to remember it by, so each datagram must carry it. Built
   * once per session; sent with the payload as a two-buffer send (no copy).
   */
  private readonly proxyHeader: Buffer | null;

  constructor(listener: UdpListener, key: string, replyAddress: string, clientIp: string, clientPort: number, backend: Backend, now: number) {
    this.listener = listener;
    this.pool = listener.pool;
    this.key = key;
    this.replyAddress = replyAddress;
    this.clientIp = clientIp;
    this.clientPort = clientPort;
    this.backend = backend;
    this.startMs = now;
    this.lastSeenMs = now;
    const a = backend.address;
    this.upstream = dgram.createSocket({ type: a.family === 6 || a.host.includes(':') ? 'udp6' : 'udp4' });
    this.upstream.on('error', this.onUpstreamError);
    this.upstream.on('message', this.onUpstreamMessage);
    this.upstream.connect(a.port, a.host, this.onConnect);
    this.proxyHeader = listener.config.proxyProtocol === 'v2' ? encodeProxyV2({ ip: replyAddress, port: clientPort }, listener.localEndpoint(), 'dgram') : null;
    this.pool.acquire(backend, this);
  }

  /** A datagram from the client. */
  send(msg: Buffer): void {
    this.active = true;
    this.packetsIn++;
    this.bytesIn += msg.length;
    this.backend.bytesIn += msg.length;
    this.listener.bytesIn += msg.length;
    if (this.connected) {
      this.sendUp(msg);
    } else if (this.pending !== null && this.pending.length < MAX_PENDING) {
      this.pending.push(msg);
    } else {
      this.dropped++;
    }
  }

  /** One datagram to the backend, behind the PROXY header when there is one. */
  private sendUp(msg: Buffer): void {
    const h = this.handle;
    if (h !== null) rawUdp!.send(h, false, this.proxyHeader === null ? [msg] : [this.proxyHeader, msg], 0, '');
    else if (this.proxyHeader === null) this.upstream.send(msg);
    else this.upstream.send([this.proxyHeader, msg]);
  }

  private readonly onConnect = (): void => {
    if (this.done) return;
    this.connected = true;
    this.handle = rawUdp?.handleOf(this.upstream) ?? null;
    if (this.handle !== null) this.handle.onmessage = this.onRawMessage;
    const local = this.upstream.address();
    this.backendLocal = formatHostPort(local.address, local.port);
    const queued = this.pending!;
    this.pending = null;
    for (const m of queued) this.sendUp(m);
  };

  /** The handle's receive callback (raw path). */
  private readonly onRawMessage = (nread: number, _h: UdpHandle, msg: Buffer): void => {
    if (nread < 0) this.onUpstreamError(Object.assign(new Error(`recvmsg ${errname(nread)}`), { code: errname(nread) }));
    else this.onUpstreamMessage(msg);
  };

  private readonly onUpstreamMessage = (msg: Buffer): void => {
    this.active = true;
    this.packetsOut++;
    this.bytesOut += msg.length;
    this.backend.bytesOut += msg.length;
    this.listener.bytesOut += msg.length;
    this.listener.reply(msg, this.clientPort, this.replyAddress);
  };

  private readonly onUpstreamError = (err: NodeJS.ErrnoException): void => {
    // ECONNREFUSED: ICMP port unreachable from the backend. The session keeps its slot (a
    // later datagram may succeed, or health moves it); the failure counts against the backend.
    if (err.code === 'ECONNREFUSED') {
      this.pool.reportConnectFailure(this.backend, 'ECONNREFUSED');
      return;
    }
    const log = this.listener.log;
    if (log.isLevelEnabled('debug')) log.debug({ backend: this.backend.key, code: err.code }, 'udp upstream error');
    this.close('error', err.code ?? err.message);
  };

  /** End the session: close its socket, release slots, write the access line. */
  close(reason: EndReason, detail?: string): void {
    if (this.done) return;
    this.done = true;
    this.pending = null;
    try {
      this.upstream.close();
    } catch {
      // Already closed by an error path.
    }
    this.pool.release(this.backend, this);
    this.listener.sessionEnded(this);
    logSessionEnd(this.listener.log, this, this.backendLocal, this.startMs, reason, detail, { packets_in: this.packetsIn, packets_out: this.packetsOut });
  }
}
