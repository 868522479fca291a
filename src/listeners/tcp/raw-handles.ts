// libuv TCP handles without net.Socket. A net.Socket is a Duplex stream: two stream states,
// an EventEmitter, a timer, a dozen listeners. For a splice that only moves bytes from one
// handle to another, that machinery is most of the CPU of a short connection (measured: a
// pipe()-based Node proxy made 2.3-3.0k connections/s here, the same splice on bare handles
// 4.2-5.1k) and most of the memory of an idle one. These are the bindings net.Socket itself
// is built on (process.binding('tcp_wrap'), ('stream_wrap'), public since Node 0.x and still
// allow-listed in Node 20-24). When a future Node lacks one of them, `raw` is null and lb
// falls back to net.Socket sessions (tcp-session.ts): slower, never wrong.
import { encodeProxyV1, encodeProxyV2 } from '../proxy-protocol.js';

export { errname } from '../errno.js';

/** A connect, write or shutdown request: plain objects that libuv fills and calls back. */
export interface Req {
  oncomplete: (...args: never[]) => void;
  handle?: TcpHandle;
  /** A write keeps its buffer alive until libuv is done with it. */
  buffer?: Uint8Array | null;
  async?: boolean;
}

export interface TcpHandle {
  /** The socket's file descriptor (-1 before it has one). */
  readonly fd: number;
  /** Called with `this` = the handle; bytes or error in streamState[kReadBytesOrError]. */
  onread: ((this: TcpHandle, ab?: ArrayBuffer) => void) | null;
  readonly writeQueueSize: number;
  readStart(): number;
  readStop(): number;
  useUserBuffer(buf: Uint8Array): void;
  writeBuffer(req: Req, buf: Uint8Array): number;
  shutdown(req: Req): number;
  connect(req: Req, host: string, port: number): number;
  connect6(req: Req, host: string, port: number): number;
  getpeername(out: Record<string, unknown>): number;
  getsockname(out: Record<string, unknown>): number;
  setNoDelay(on: boolean): number;
  /** Close with RST (SO_LINGER 0). Closes the handle. */
  reset(cb?: () => void): number;
  close(cb?: () => void): void;
}

export interface RawTcp {
  newSocket(): TcpHandle;
  newConnectReq(): Req;
  newWriteReq(): Req;
  newShutdownReq(): Req;
  /** Shared with C++: [kReadBytesOrError] after a read, [kLastWriteWasAsync] after a write. */
  readonly state: Int32Array;
  readonly kReadBytesOrError: number;
  readonly kLastWriteWasAsync: number;
}

/** libuv's end-of-file code. */
export const UV_EOF = -4095;

type Ctor<T> = new (...args: unknown[]) => T;

function load(): RawTcp | null {
  if (process.env['LB_TCP_SOCKETS'] === '1') return null; // tests of the fallback path
  try {
    const binding = (process as unknown as { binding(name: string): Record<string, unknown> }).binding;
    const tcp = binding('tcp_wrap') as { TCP: Ctor<TcpHandle>; TCPConnectWrap: Ctor<Req>; constants: { SOCKET: number } };
    const stream = binding('stream_wrap') as {
      WriteWrap: Ctor<Req>; ShutdownWrap: Ctor<Req>; streamBaseState: Int32Array; kReadBytesOrError: number; kLastWriteWasAsync: number;
    };
    const { TCP, TCPConnectWrap, constants } = tcp;
    const { WriteWrap, ShutdownWrap, streamBaseState } = stream;
    if (typeof TCP !== 'function' || typeof TCPConnectWrap !== 'function' || typeof WriteWrap !== 'function' || typeof ShutdownWrap !== 'function') return null;
    if (!(streamBaseState instanceof Int32Array) || typeof stream.kReadBytesOrError !== 'number' || typeof stream.kLastWriteWasAsync !== 'number') return null;
    const probe = new TCP(constants.SOCKET);
    const ok = ['readStart', 'readStop', 'useUserBuffer', 'writeBuffer', 'shutdown', 'connect', 'connect6', 'getpeername', 'getsockname', 'setNoDelay', 'reset', 'close']
      .every((m) => typeof (probe as unknown as Record<string, unknown>)[m] === 'function');
    probe.close();
    if (!ok) return null;
    const SOCKET = constants.SOCKET;
    return {
      newSocket: () => new TCP(SOCKET),
      newConnectReq: () => new TCPConnectWrap(),
      newWriteReq: () => new WriteWrap(),
      newShutdownReq: () => new ShutdownWrap(),
      state: streamBaseState,
      kReadBytesOrError: stream.kReadBytesOrError,
      kLastWriteWasAsync: stream.kLastWriteWasAsync,
    };
  } catch {
    return null;
  }
}

/** The bindings, or null when this Node does not offer them (then net.Socket is used). */
export const raw: RawTcp | null = load();

/**
 * The handle behind an accepting net.Server, whose `onconnection` lb takes over so that
 * accepted connections arrive as bare handles. Binding, cluster sharing and close stay
 * net.Server's. Null when the server has no such handle.
 */
export function serverHandle(server: unknown): { onconnection: (err: number, h: TcpHandle | undefined) => void } | null {
  const h = (server as { _handle?: { onconnection?: unknown } | null })._handle;
  return h !== null && h !== undefined && typeof h.onconnection === 'function' ? (h as { onconnection: (err: number, h: TcpHandle | undefined) => void }) : null;
}

/**
 * The PROXY header for a client accepted as a bare handle: its address as accepted
 * (`peerAddress`, IPv4-mapped form kept) and port, and the handle's local address.
 */
export function proxyHeaderFor(client: TcpHandle, peerAddress: string, peerPort: number, version: 'v1' | 'v2'): Buffer {
  const local: Record<string, unknown> = {};
  client.getsockname(local);
  const src = { ip: peerAddress, port: peerPort };
  const dst = { ip: String(local['address'] ?? ''), port: Number(local['port'] ?? 0) };
  return version === 'v1' ? encodeProxyV1(src, dst) : encodeProxyV2(src, dst, 'stream');
}
