// The per-datagram path without node:dgram's per-call machinery. dgram.Socket.send() makes a
// closure, enters an async-id scope, and for an unconnected socket resolves the address
// through dns.lookup (a process.nextTick per datagram, even for an IP literal); every
// datagram received goes through EventEmitter.emit. Measured here at 10k datagrams/s each
// way: lb's main thread spent 42 µs of user time per round trip against NGINX stream's 34 µs
// in all. lb keeps dgram.Socket for binding, cluster sharing, errors and close, and moves
// datagrams straight on the handle underneath (process.binding('udp_wrap'), the handle
// dgram itself drives). When this Node does not expose it, `rawUdp` is null and dgram's own
// send() and 'message' events are used.
import type { Socket as DgramSocket, RemoteInfo } from 'node:dgram';

export interface UdpHandle {
  /** dgram's receive callback slot: (nread, handle, buf, rinfo). */
  onmessage: (nread: number, handle: UdpHandle, buf: Buffer, rinfo: RemoteInfo) => void;
  send(req: object, list: readonly Buffer[], count: number, port: number, address: string, hasCallback: boolean): number;
  send6(req: object, list: readonly Buffer[], count: number, port: number, address: string, hasCallback: boolean): number;
}

interface SendReq {
  list: readonly Buffer[] | null;
}

export interface RawUdp {
  /** The handle of a bound dgram socket, or null (not bound, or not the expected shape). */
  handleOf(socket: DgramSocket): UdpHandle | null;
  /**
   * Send `list` (one datagram) to port/address, or to the connected peer when `port` is 0.
   * Returns a negative errno, or a non-negative number when sent or queued.
   */
  send(h: UdpHandle, six: boolean, list: readonly Buffer[], port: number, address: string): number;
}

function load(): RawUdp | null {
  if (process.env['LB_UDP_DGRAM'] === '1') return null; // tests of the fallback path
  try {
    const binding = (process as unknown as { binding(name: string): Record<string, unknown> }).binding;
    const { SendWrap } = binding('udp_wrap') as { SendWrap: new () => SendReq };
    if (typeof SendWrap !== 'function') return null;
    let stateSymbol: symbol | undefined;
    return {
      handleOf(socket) {
        stateSymbol ??= Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
        if (stateSymbol === undefined) return null;
        const h = ((socket as unknown as Record<symbol, { handle?: unknown }>)[stateSymbol]?.handle ?? null) as UdpHandle | null;
        return h !== null && typeof h.send === 'function' && typeof h.send6 === 'function' && typeof h.onmessage === 'function' ? h : null;
      },
      send(h, six, list, port, address) {
        const req = new SendWrap();
        // Keeps the buffers alive if libuv has to queue the datagram (the array is not reused).
        req.list = list;
        if (port === 0) return (h.send as unknown as (r: object, l: readonly Buffer[], n: number, cb: boolean) => number)(req, list, list.length, false);
        return six ? h.send6(req, list, list.length, port, address, false) : h.send(req, list, list.length, port, address, false);
      },
    };
  } catch {
    return null;
  }
}

export const rawUdp: RawUdp | null = load();
