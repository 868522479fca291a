import net from 'node:net';

// The shared read buffer: every socket of every session reads into this one buffer
// (net.connect `onread`, and adoptReadBuffer() for accepted sockets), so libuv never
// allocates a 64 KiB buffer per read and no Readable-stream machinery runs per chunk.
// Ownership rule: each handle caches the buffer for its next read, so a buffer handed to a
// pending write could be overwritten by any other socket's read. Therefore the bytes are
// always copied out (copyOut) inside the read callback, before anything else can run, and
// the shared buffer is never referenced after the callback returns.

/** libuv's default read size (64 KiB): one read takes what one loopback segment carries. */
export const READ_BUFFER_BYTES = 64 * 1024;

const shared = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);

/** The buffer every read goes into (passed as onread.buffer). */
export function readBuffer(): Buffer {
  return shared;
}

/** A copy of the first `n` bytes of a read: small reads come from Node's pooled slab. */
export function copyOut(buf: Buffer, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  buf.copy(out, 0, 0, n);
  return out;
}

// Chunks for the raw path (raw-session.ts). Reads above SMALL are copied into recycled
// 64 KiB slabs instead of a fresh allocation each: a bulk transfer would otherwise create and
// drop one 64 KiB ArrayBuffer per read, whose external-memory accounting drives V8's GC. A
// chunk goes back with releaseChunk() once its write is done (at once for a write the kernel
// took whole, from the write's completion otherwise). At most MAX_FREE slabs wait for reuse.
const SMALL = 4096;
const MAX_FREE = 64;
const free: ArrayBuffer[] = [];
const slabs = new WeakSet<ArrayBuffer>();

/** The first `n` bytes of the shared read buffer, copied into a chunk that releaseChunk() recycles. */
export function takeChunk(n: number): Buffer {
  if (n <= SMALL) return copyOut(shared, n);
  let ab = free.pop();
  if (ab === undefined) {
    ab = new ArrayBuffer(READ_BUFFER_BYTES);
    slabs.add(ab);
  }
  const out = Buffer.from(ab, 0, n);
  shared.copy(out, 0, 0, n);
  return out;
}

/** `chunk` (from takeChunk) is no longer referenced by any write. */
export function releaseChunk(chunk: Buffer): void {
  const ab = chunk.buffer;
  if (free.length < MAX_FREE && ab instanceof ArrayBuffer && slabs.has(ab)) free.push(ab);
}

// Accepted sockets: Node 20 offers `onread` only to sockets it connects (net.connect), not to
// the ones a server accepts. The same machinery exists on every net.Socket behind three
// internal symbols; when they are found (checked once, on a throwaway socket built with
// `onread`), an accepted socket is switched to the shared buffer before its first read.
// When they are not (another Node version), adoptReadBuffer() returns false and the session
// falls back to 'data' events: slower, never wrong.
type OnRead = (n: number, buf: Buffer) => boolean;
interface Internals {
  kBuffer: symbol;
  kBufferGen: symbol;
  kBufferCb: symbol;
}

const internals: Internals | null = (() => {
  // @types/node 20 omits `onread` from the constructor options; Node 20 accepts it.
  const probe = new net.Socket({ onread: { buffer: readBuffer, callback: () => true } } as net.SocketConstructorOpts);
  const find = (d: string): symbol | undefined => Object.getOwnPropertySymbols(probe).find((s) => s.description === d);
  const kBuffer = find('kBuffer');
  const kBufferGen = find('kBufferGen');
  const kBufferCb = find('kBufferCb');
  probe.destroy();
  return kBuffer && kBufferGen && kBufferCb ? { kBuffer, kBufferGen, kBufferCb } : null;
})();

/**
 * Make a paused, accepted socket read into the shared buffer and hand each read to
 * `callback` (return false to pause). Call before the first resume(). False when this Node
 * does not expose the machinery; the caller then uses 'data' events.
 */
export function adoptReadBuffer(socket: net.Socket, callback: OnRead): boolean {
  const handle = (socket as unknown as { _handle: { useUserBuffer?(b: Uint8Array): void } | null })._handle;
  if (internals === null || handle === null || typeof handle.useUserBuffer !== 'function') return false;
  const s = socket as unknown as Record<symbol, unknown>;
  s[internals.kBuffer] = readBuffer();
  s[internals.kBufferGen] = readBuffer;
  s[internals.kBufferCb] = callback;
  handle.useUserBuffer(readBuffer());
  return true;
}
