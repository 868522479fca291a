// A TCP session's bytes on the native relay (tcp-relay.ts, native/tcp_relay.cc): the relay
// holds a duplicate of the accepted client's fd and its own backend socket, splices them in
// C++, passes FINs and resets on, and calls back at most three times per connect attempt.
// Nothing here runs per chunk; counters are read from the relay when the sweeps or the
// status and metrics readers ask.
import { lookup } from 'node:dns';
import type { Address } from '../../config/types.js';
import { errname } from '../errno.js';
import { formatHostPort } from '../admission.js';
import {
  EV_CONNECTED, EV_CONNECT_FAILED, FLAG_CLIENT_EOF, FLAG_CLIENT_SHUT, FLAG_CONNECTED, FLAG_UPSTREAM_EOF, SIDE_CLIENT,
  ST_ACTIVITY, ST_BYTES_IN, ST_BYTES_OUT, ST_FLAGS, ST_HELD_CLIENT, ST_HELD_UP, type RelayOwner, type TcpRelay,
} from './tcp-relay.js';
import type { TcpPath, TcpSession } from './tcp-session.js';

export class NativePath implements TcpPath, RelayOwner {
  private readonly id: number;
  /** The relay ended the session itself (its sockets are closed; `relay.last` holds its counters). */
  private relayDone = false;
  private closed = false;
  /** Bumped by every dial and abort: a lookup answering for an older attempt is ignored. */
  private attempt = 0;
  /** Bytes already credited to the session. */
  private inSeen = 0;
  private outSeen = 0;

  /** Throws (EMFILE from the fd's duplicate, a header too long) before anything is held; an owned fd stays the caller's then. */
  constructor(private readonly relay: TcpRelay, private readonly session: TcpSession, clientFd: number, header: Buffer | null, owned: boolean) {
    this.id = relay.open(this, clientFd, header, owned);
  }

  dial(a: Address): void {
    const attempt = ++this.attempt;
    if (a.family !== 0) {
      this.connectTo(a.family, a.host, a.port);
      return;
    }
    // A hostname: resolved per connect, as net.connect would.
    lookup(a.host, (err, address, family) => {
      if (this.closed || this.attempt !== attempt) return;
      if (err) this.session.onConnectFailed(err.code ?? 'ENOTFOUND');
      else this.connectTo(family === 6 ? 6 : 4, address, a.port);
    });
  }

  private connectTo(family: 4 | 6, host: string, port: number): void {
    const err = this.relay.dial(this.id, family, host, port);
    if (err !== 0) this.session.onConnectFailed(errname(err));
  }

  abort(): void {
    this.attempt++;
    // Its late connect cannot pass for the next attempt's: the relay drops it now.
    if (!this.closed) this.relay.abort(this.id);
  }

  splice(): void {
    // The relay starts on its own once connected.
  }

  /** @internal from the relay */
  relayEvent(event: number, a: number, b: number): void {
    if (event === EV_CONNECTED) {
      this.session.onConnected();
    } else if (event === EV_CONNECT_FAILED) {
      this.session.onConnectFailed(errname(a));
    } else {
      this.relayDone = true;
      this.session.onEnded(a === SIDE_CLIENT ? 'client' : 'backend', b === 0 ? null : errname(b));
    }
  }

  progress(): number {
    if (this.closed) return -1;
    const st = this.relay.stats(this.id);
    this.credit(st);
    return st[ST_ACTIVITY]!;
  }

  probe(): void {
    // The relay hears of errors from epoll, also on a side whose read ended.
  }

  private credit(st: Float64Array): void {
    const dIn = st[ST_BYTES_IN]! - this.inSeen;
    const dOut = st[ST_BYTES_OUT]! - this.outSeen;
    if (dIn === 0 && dOut === 0) return;
    this.inSeen += dIn;
    this.outSeen += dOut;
    this.session.credit(dIn, dOut);
  }

  localAddress(): string | null {
    const local = this.relay.local(this.id);
    return local === null ? null : formatHostPort(local[0], local[1]);
  }

  close(reset: boolean): void {
    if (this.closed) return;
    this.closed = true;
    // The relay's last counters: filled by close(), or by the relay before it said "ended".
    this.credit(this.relayDone ? this.relay.last : this.relay.close(this.id, reset));
  }

  private stat(word: number): number {
    return this.closed ? 0 : this.relay.stats(this.id)[word]!;
  }
  get queuedToClient(): number {
    return this.stat(ST_HELD_CLIENT);
  }
  get queuedToUpstream(): number {
    return this.stat(ST_HELD_UP);
  }
  get upstreamEof(): boolean {
    return (this.stat(ST_FLAGS) & FLAG_UPSTREAM_EOF) !== 0;
  }
  get clientFinished(): boolean {
    const f = this.stat(ST_FLAGS);
    return (f & FLAG_CLIENT_EOF) !== 0 && (f & FLAG_CLIENT_SHUT) !== 0;
  }
  get readingClient(): boolean {
    const f = this.stat(ST_FLAGS);
    return (f & (FLAG_CONNECTED | FLAG_CLIENT_EOF)) === FLAG_CONNECTED && this.stat(ST_HELD_UP) < this.relay.heldMax;
  }
}
