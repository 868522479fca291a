// The native TCP relay: lb's own addon (native/tcp_relay.cc, built by `npm ci`) moves a
// session's bytes between its two sockets on the event loop without a trip into JavaScript
// per chunk. JavaScript keeps accept, admission, backend choice, retries, timeouts, counters
// and logs (accept itself is the relay's where lb owns the listening socket; see
// tcp-listener.ts); the addon calls back three times at most per connect attempt (connected, connect
// failed, ended) instead of about seven times per connection plus twice per request.
//
// `tcpRelay` is null when the addon did not build or load (`tcpRelayReason` says why); TCP
// listeners then run on the portable path (portable-path.ts, net.Socket).
import { loadAddon } from '../native-addon.js';

/** The addon's calls, as native/tcp_relay.cc defines them. */
interface Addon {
  readonly HELD_MAX: number;
  init(stats: Float64Array, callback: (id: number, event: number, a: number, b: number) => void, accepted: (lid: number, fd: number, ip: string, port: number) => void): void;
  /** A session for an accepted client's fd: owned (the relay accepted it), or a duplicate of it (the caller closes its own); throws. */
  open(fd: number, header: Buffer | null, owned: boolean): number;
  /** A listening socket in the relay's epoll set (family 0: every interface, dual-stack); throws an errno error. */
  listen(family: 0 | 4 | 6, host: string, port: number, backlog: number): number;
  /** Take clients again after an accept failure paused the listener. */
  resume(lid: number): void;
  /** Close the listening socket. */
  unlisten(lid: number): void;
  /** A listener's bound address (isListener) or an fd's local address. */
  sockname(n: number, isListener: boolean): [string, number] | null;
  /** Close an accepted fd lb does not keep (with RST when `reset`). */
  closeFd(fd: number, reset: boolean): void;
  /** Connect to an IP literal; 0 or a negative errno. Drops an attempt still in flight. */
  dial(id: number, family: 4 | 6, host: string, port: number): number;
  /** Drop the connect attempt in flight (its events are not delivered). */
  abort(id: number): void;
  /** End the session now (with RST both ways when `reset`); the stats array then holds its last counters. */
  close(id: number, reset: boolean): void;
  /** Fill the stats array for a session. */
  stats(id: number): void;
  /** The backend socket's local address. */
  local(id: number): [string, number] | null;
}

export const EV_CONNECTED = 1;
export const EV_CONNECT_FAILED = 2;
export const EV_ENDED = 3;
export const SIDE_CLIENT = 0;

/** Words of the stats array. */
export const ST_BYTES_IN = 0;
export const ST_BYTES_OUT = 1;
export const ST_ACTIVITY = 2;
export const ST_HELD_UP = 3;
export const ST_HELD_CLIENT = 4;
export const ST_FLAGS = 5;
export const FLAG_CONNECTED = 1;
export const FLAG_CLIENT_EOF = 2;
export const FLAG_UPSTREAM_EOF = 4;
export const FLAG_CLIENT_SHUT = 8;

export interface RelayOwner {
  /** connected (a = 0), connect failed (a = -errno), ended (a = side, b = -errno or 0). */
  relayEvent(event: number, a: number, b: number): void;
}

/** A listening socket's owner: told of each accepted client, or of lb's own accept failure. */
export interface AcceptOwner {
  /** `fd` >= 0: a client at ip:port, the owner's to open() or closeFd(); < 0: -errno, the listener is paused until resume(). */
  onAccept(fd: number, ip: string, port: number): void;
}

export type TcpRelay = Pick<Addon, 'dial' | 'abort' | 'local' | 'resume' | 'sockname' | 'closeFd'> & {
  /** Bytes held per direction at most (lb's high-water mark). */
  readonly heldMax: number;
  /** The shared stats array: a session's last counters while its "ended" event runs. */
  readonly last: Float64Array;
  /** Addon.open, with the session's events going to `owner`. */
  open(owner: RelayOwner, fd: number, header: Buffer | null, owned: boolean): number;
  /** Addon.listen, with accepted clients going to `owner`. */
  listen(owner: AcceptOwner, family: 0 | 4 | 6, host: string, port: number, backlog: number): number;
  unlisten(lid: number): void;
  close(id: number, reset: boolean): Float64Array;
  /** The session's counters (a shared array, valid until the next call). */
  stats(id: number): Float64Array;
};

function load(): { relay: TcpRelay; reason: null } | { relay: null; reason: string } {
  const loaded = loadAddon<Addon>('tcp_relay');
  if (loaded.addon === null) return { relay: null, reason: loaded.reason };
  const addon = loaded.addon;
  const stats = new Float64Array(6);
  const owners: (RelayOwner | undefined)[] = [];
  const acceptors: (AcceptOwner | undefined)[] = [];
  try {
    addon.init(
      stats,
      (id, event, a, b) => {
        const owner = owners[id];
        // An ended session's id is free again once this returns.
        if (event === EV_ENDED) owners[id] = undefined;
        owner?.relayEvent(event, a, b);
      },
      (lid, fd, ip, port) => {
        const owner = acceptors[lid];
        if (owner !== undefined) owner.onAccept(fd, ip, port);
        else if (fd >= 0) addon.closeFd(fd, true);
      },
    );
  } catch (err) {
    return { relay: null, reason: `init failed: ${(err as Error).message}` };
  }
  const relay: TcpRelay = {
    heldMax: addon.HELD_MAX,
    last: stats,
    open(owner, fd, header, owned) {
      const id = addon.open(fd, header, owned);
      owners[id] = owner;
      return id;
    },
    listen(owner, family, host, port, backlog) {
      const lid = addon.listen(family, host, port, backlog);
      acceptors[lid] = owner;
      return lid;
    },
    unlisten(lid) {
      acceptors[lid] = undefined;
      addon.unlisten(lid);
    },
    resume: addon.resume,
    sockname: addon.sockname,
    closeFd: addon.closeFd,
    dial: addon.dial,
    abort: addon.abort,
    local: addon.local,
    close(id, reset) {
      owners[id] = undefined;
      addon.close(id, reset);
      return stats;
    },
    stats(id) {
      addon.stats(id);
      return stats;
    },
  };
  return { relay, reason: null };
}

const loaded = load();
/** The relay, or null when it is not available here. */
export const tcpRelay: TcpRelay | null = loaded.relay;
/** Why the relay is not available (null when it is). */
export const tcpRelayReason: string | null = loaded.reason;
