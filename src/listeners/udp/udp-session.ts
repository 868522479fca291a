// One UDP session: a client address:port paired with one backend through its own upstream
// dgram socket, connect()ed to the backend so the kernel filters replies to that peer and
// reports ICMP unreachable as ECONNREFUSED. Replies go back to the client from the
// listener's socket (the address the client sent to). Datagram boundaries are kept: one
// datagram in, one datagram out, never merged or split.
// Invariants: a session ends once (first reason wins) and releases its slots exactly once;
// nothing is allocated per datagram beyond what node:dgram itself allocates.
import dgram, { type Socket as DgramSocket } from 'node:dgram';
import { lookup } from 'node:dns';
import { isIP } from 'node:net';
import { constants } from 'node:os';
import type { Backend } from '../../pool/backend.js';
import type { Pool } from '../../pool/pool.js';
import type { EndReason } from '../../log/end-reason.js';
import { logSessionEnd } from '../../log/access.js';
import { formatHostPort } from '../admission.js';
import { encodeProxyV2 } from '../proxy-protocol.js';
import type { UdpListener } from './udp-listener.js';
import { rawUdp, type UdpHandle } from './raw-udp.js';
import { batchUdp, errnoError, META_ADDR, type BatchOwner } from './batch-udp.js';
import { errname } from '../errno.js';

/** Datagrams held while the upstream socket connects; more are dropped (and counted). */
const MAX_PENDING = 64;

export class UdpSession implements BatchOwner {
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
  /** The upstream dgram socket, or null on the batched path. */
  private readonly upstream: DgramSocket | null;
  /** Batched path: the upstream socket's id, and the client's address kept for replies. */
  private upId = -1;
  private peerId = -1;
  /** Batched path: the client's address as the 4 words of the slot metadata. */
  private readonly src0: number;
  private readonly src1: number;
  private readonly src2: number;
  private readonly src3: number;
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

  /**
   * `slot`: on the batched path, the arena slot of the client's first datagram (its source
   * address is kept for replies); -1 on the dgram paths. Throws when no upstream socket can
   * be had (EMFILE...), before anything is acquired.
   */
  constructor(listener: UdpListener, key: string, replyAddress: string, clientIp: string, clientPort: number, backend: Backend, now: number, slot: number) {
    this.listener = listener;
    this.pool = listener.pool;
    this.key = key;
    this.replyAddress = replyAddress;
    this.clientIp = clientIp;
    this.clientPort = clientPort;
    this.backend = backend;
    this.startMs = now;
    this.lastSeenMs = now;
    this.proxyHeader = listener.config.proxyProtocol === 'v2' ? encodeProxyV2({ ip: replyAddress, port: clientPort }, listener.localEndpoint(), 'dgram') : null;
    const a = backend.address;
    const six = a.family === 6 || a.host.includes(':');
    if (batchUdp !== null && slot >= 0) {
      const m = batchUdp.meta;
      const o = slot * batchUdp.metaWords + META_ADDR;
      this.src0 = m[o]!;
      this.src1 = m[o + 1]!;
      this.src2 = m[o + 2]!;
      this.src3 = m[o + 3]!;
      this.upstream = null;
      this.openBatched(slot, six);
    } else {
      this.src0 = this.src1 = this.src2 = this.src3 = 0;
      this.upstream = dgram.createSocket({ type: six ? 'udp6' : 'udp4' });
      this.upstream.on('error', this.onUpstreamError);
      this.upstream.on('message', this.onUpstreamMessage);
      this.upstream.connect(a.port, a.host, this.onConnect);
    }
    this.pool.acquire(backend, this);
  }

  /** The upstream socket on the batched path: connected now for an IP, after a lookup for a name. */
  private openBatched(slot: number, six: boolean): void {
    const batch = batchUdp!;
    const a = this.backend.address;
    const id = batch.open(this, six ? 6 : 4, '', -1, false, 0);
    try {
      if (isIP(a.host) !== 0) this.connectBatched(id, a.host);
      else {
        lookup(a.host, { family: six ? 6 : 4 }, (err, ip) => {
          if (this.done) return;
          if (err !== null) this.onUpstreamError(err);
          else {
            try {
              this.connectBatched(id, ip);
            } catch (e) {
              this.onUpstreamError(e as NodeJS.ErrnoException);
            }
          }
        });
      }
    } catch (err) {
      batch.close(id);
      throw err;
    }
    this.upId = id;
    this.peerId = batch.peer(slot);
  }

  private connectBatched(id: number, ip: string): void {
    const batch = batchUdp!;
    batch.connect(id, ip, this.backend.address.port);
    if (this.proxyHeader !== null) batch.setPrefix(id, this.proxyHeader);
    batch.start(id);
    // Only the access line shows it (as on the TCP path): no getsockname when it is not written.
    if (this.listener.log.isLevelEnabled('info')) {
      const local = batch.local(id);
      this.backendLocal = formatHostPort(local.address, local.port);
    }
    this.connected = true;
    const queued = this.pending;
    this.pending = null;
    if (queued === null) return;
    for (const m of queued) {
      // ICMP port unreachable from an earlier datagram can surface on this send.
      if (batch.sendBuffer(id, m, -1) === -constants.errno.ECONNREFUSED) this.pool.reportConnectFailure(this.backend, 'ECONNREFUSED');
    }
  }

  /** Batched path: is this the client whose address is in the metadata at `o`? */
  sameSource(meta: Int32Array, o: number): boolean {
    return meta[o + META_ADDR] === this.src0 && meta[o + META_ADDR + 1] === this.src1 && meta[o + META_ADDR + 2] === this.src2 && meta[o + META_ADDR + 3] === this.src3;
  }

  /** Batched path: a datagram from the client, in arena slot `slot`. */
  sendSlot(slot: number, length: number): void {
    this.active = true;
    this.packetsIn++;
    this.bytesIn += length;
    this.backend.bytesIn += length;
    this.listener.bytesIn += length;
    if (this.connected) batchUdp!.send(this.upId, slot, -1);
    else if (this.pending !== null && this.pending.length < MAX_PENDING) this.pending.push(batchUdp!.copySlot(slot));
    else this.dropped++;
  }

  /** Batched path: replies from the backend in slots 0..count-1, or a negative errno. */
  onBatch(count: number): void {
    if (count < 0) {
      this.onUpstreamError(errnoError('recvmmsg', count));
      return;
    }
    const l = this.listener;
    if (!l.open) return;
    const batch = batchUdp!;
    const meta = batch.meta;
    const words = batch.metaWords;
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      bytes += meta[i * words]!;
      batch.send(l.batchId, i, this.peerId);
    }
    this.active = true;
    this.packetsOut += count;
    this.bytesOut += bytes;
    this.backend.bytesOut += bytes;
    l.bytesOut += bytes;
    l.datagramsOut += count;
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
    else if (this.proxyHeader === null) this.upstream!.send(msg);
    else this.upstream!.send([this.proxyHeader, msg]);
  }

  private readonly onConnect = (): void => {
    if (this.done) return;
    this.connected = true;
    const upstream = this.upstream!;
    this.handle = rawUdp?.handleOf(upstream) ?? null;
    if (this.handle !== null) this.handle.onmessage = this.onRawMessage;
    const local = upstream.address();
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
    if (this.upstream === null) {
      batchUdp!.close(this.upId);
      batchUdp!.freePeer(this.peerId);
    } else {
      try {
        this.upstream.close();
      } catch {
        // Already closed by an error path.
      }
    }
    this.pool.release(this.backend, this);
    this.listener.sessionEnded(this);
    logSessionEnd(this.listener.log, this, this.backendLocal, this.startMs, reason, detail, { packets_in: this.packetsIn, packets_out: this.packetsOut });
  }
}
