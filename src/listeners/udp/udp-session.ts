// One UDP session: a client address:port paired with one backend through its own upstream
// socket, connect()ed to the backend so the kernel filters replies to that peer and reports
// ICMP unreachable as ECONNREFUSED. Replies go back to the client from the listener's socket
// (the address the client sent to). Datagram boundaries are kept: one datagram in, one out.
// Two upstreams: `native` a socket of the batch addon (batch-udp.ts; client datagrams are
// sent straight from the arena slot they arrived in), `portable` a node:dgram socket.
// Invariants: a session ends once (first reason wins) and releases its slots exactly once;
// nothing is allocated per datagram beyond what node:dgram itself allocates.
import dgram, { type Socket as DgramSocket } from 'node:dgram';
import { lookup } from 'node:dns';
import { isIP } from 'node:net';
import { constants } from 'node:os';
import type { ListenerConfig } from '../../config/types.js';
import type { Backend } from '../../pool/backend.js';
import type { Pool } from '../../pool/pool.js';
import type { EndReason } from '../../log/end-reason.js';
import { isLocalError } from '../../local-errors.js';
import { formatHostPort } from '../admission.js';
import { encodeProxyV2 } from '../proxy-protocol.js';
import { Session, type SessionOwner } from '../session.js';
import { batchUdp, errnoError, META_ADDR, type BatchOwner } from './batch-udp.js';

/** Datagrams held while the upstream socket connects; more are dropped. */
const MAX_PENDING = 64;

/** What a UDP session needs of its listener. */
export interface UdpSessionOwner extends SessionOwner {
  readonly config: ListenerConfig;
  /** The listener's socket is open (replies can leave). */
  readonly open: boolean;
  /** Native: the listener socket's id in the batch addon (replies leave from it). */
  readonly batchId: number;
  datagramsOut: number;
  /** The PROXY v2 destination: the listener's bound address. */
  localEndpoint(): { ip: string; port: number };
  /** Portable: send a backend's reply to the client from the listener's socket. */
  reply(msg: Buffer, port: number, address: string): void;
}

export class UdpSession extends Session implements BatchOwner {
  readonly key: string;
  /** The address as the listener socket reported it (mapped form kept, for sending back). */
  readonly address: string;
  override backend: Backend;
  private readonly udpOwner: UdpSessionOwner;
  /** The portable upstream, or null on the native path. */
  private readonly upstream: DgramSocket | null;
  /** Native: the upstream socket's id, and the client's address kept for replies. */
  private upId = -1;
  private peerId = -1;
  /** Native: the client's address as the 4 words of the slot metadata. */
  private readonly src0: number;
  private readonly src1: number;
  private readonly src2: number;
  private readonly src3: number;
  private connected = false;
  private pending: Buffer[] | null = [];
  /**
   * Set by every datagram either way; the listener's sweep clears it and records the sweep's
   * time in lastSeenMs, so no clock is read per datagram.
   */
  active = false;
  lastSeenMs: number;
  packetsIn = 0;
  packetsOut = 0;
  /**
   * PROXY v2 (DGRAM) header, sent in front of every datagram to the backend: a datagram
   * receiver has no connection to remember it by, so each datagram must carry it. Built
   * once per session; sent with the payload as a two-buffer send (no copy).
   */
  private readonly proxyHeader: Buffer | null;

  /**
   * `slot`: on the native path, the arena slot of the client's first datagram (its source
   * address is kept for replies); -1 on the portable path. Throws when no upstream socket can
   * be had (EMFILE...), before anything is acquired.
   */
  constructor(owner: UdpSessionOwner, pool: Pool, key: string, address: string, clientIp: string, clientPort: number, backend: Backend, now: number, slot: number) {
    super(owner, pool, clientIp, clientPort, now);
    this.udpOwner = owner;
    this.key = key;
    this.address = address;
    this.backend = backend;
    this.lastSeenMs = now;
    this.proxyHeader = owner.config.proxyProtocol === 'v2' ? encodeProxyV2({ ip: address, port: clientPort }, owner.localEndpoint(), 'dgram') : null;
    const a = backend.address;
    const six = a.family === 6 || a.host.includes(':');
    if (slot >= 0) {
      const m = batchUdp!.meta;
      const o = slot * batchUdp!.metaWords + META_ADDR;
      this.src0 = m[o]!;
      this.src1 = m[o + 1]!;
      this.src2 = m[o + 2]!;
      this.src3 = m[o + 3]!;
      this.upstream = null;
      this.openNative(slot, six);
    } else {
      this.src0 = this.src1 = this.src2 = this.src3 = 0;
      this.upstream = dgram.createSocket({ type: six ? 'udp6' : 'udp4' });
      this.upstream.on('error', this.onUpstreamError);
      this.upstream.on('message', this.onUpstreamMessage);
      this.upstream.connect(a.port, a.host, this.onConnect);
    }
    this.hold(backend);
  }

  /** The native upstream: connected now for an IP, after a lookup for a name. */
  private openNative(slot: number, six: boolean): void {
    const batch = batchUdp!;
    const a = this.backend.address;
    const id = batch.open(this, six ? 6 : 4, '', -1, false, 0);
    try {
      if (isIP(a.host) !== 0) this.connectNative(id, a.host);
      else {
        lookup(a.host, { family: six ? 6 : 4 }, (err, ip) => {
          if (this.done) return;
          if (err !== null) this.onUpstreamError(err);
          else {
            try {
              this.connectNative(id, ip);
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

  private connectNative(id: number, ip: string): void {
    const batch = batchUdp!;
    batch.connect(id, ip, this.backend.address.port);
    if (this.proxyHeader !== null) batch.setPrefix(id, this.proxyHeader);
    batch.start(id);
    // Only the access line shows it (as on the TCP path): no getsockname when it is not written.
    if (this.owner.log.isLevelEnabled('info')) {
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

  /** Native: is this the client whose address is in the metadata at `o`? */
  sameSource(meta: Int32Array, o: number): boolean {
    return meta[o + META_ADDR] === this.src0 && meta[o + META_ADDR + 1] === this.src1 && meta[o + META_ADDR + 2] === this.src2 && meta[o + META_ADDR + 3] === this.src3;
  }

  /** Native: a datagram from the client, in arena slot `slot`. */
  sendSlot(slot: number, length: number): void {
    this.active = true;
    this.packetsIn++;
    this.credit(length, 0);
    if (this.connected) batchUdp!.send(this.upId, slot, -1);
    else if (this.pending !== null && this.pending.length < MAX_PENDING) this.pending.push(batchUdp!.copySlot(slot));
  }

  /** Native: replies from the backend in slots 0..count-1, or a negative errno. */
  onBatch(count: number): void {
    if (count < 0) {
      this.onUpstreamError(errnoError('recvmmsg', count));
      return;
    }
    const l = this.udpOwner;
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
    this.credit(0, bytes);
    l.datagramsOut += count;
  }

  /** Portable: a datagram from the client. */
  send(msg: Buffer): void {
    this.active = true;
    this.packetsIn++;
    this.credit(msg.length, 0);
    if (this.connected) this.sendUp(msg);
    else if (this.pending !== null && this.pending.length < MAX_PENDING) this.pending.push(msg);
  }

  /** One datagram to the backend, behind the PROXY header when there is one. */
  private sendUp(msg: Buffer): void {
    if (this.proxyHeader === null) this.upstream!.send(msg);
    else this.upstream!.send([this.proxyHeader, msg]);
  }

  private readonly onConnect = (): void => {
    if (this.done) return;
    this.connected = true;
    const local = this.upstream!.address();
    this.backendLocal = formatHostPort(local.address, local.port);
    const queued = this.pending!;
    this.pending = null;
    for (const m of queued) this.sendUp(m);
  };

  private readonly onUpstreamMessage = (msg: Buffer): void => {
    this.active = true;
    this.packetsOut++;
    this.credit(0, msg.length);
    this.udpOwner.reply(msg, this.clientPort, this.address);
  };

  private readonly onUpstreamError = (err: NodeJS.ErrnoException): void => {
    // ECONNREFUSED: ICMP port unreachable from the backend. The session keeps its slot (a
    // later datagram may succeed, or health moves it); the failure counts against the backend.
    if (err.code === 'ECONNREFUSED') {
      this.pool.reportConnectFailure(this.backend, 'ECONNREFUSED');
      return;
    }
    const code = err.code ?? err.message;
    const log = this.owner.log;
    if (log.isLevelEnabled('debug')) log.debug({ backend: this.backend.key, code }, 'udp upstream error');
    this.close(isLocalError(code) ? 'local_error' : 'error', code);
  };

  protected release(_reason: EndReason): void {
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
  }

  protected override accessExtra(): { packets_in: number; packets_out: number } {
    return { packets_in: this.packetsIn, packets_out: this.packetsOut };
  }
}
