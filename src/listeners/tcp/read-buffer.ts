// The shared read buffer for upstream sockets (net.connect `onread`): libuv reads backend
// bytes straight into it, so a read allocates nothing. Ownership rule: after a read, the
// bytes are written to the client; if that write did not complete synchronously (the
// client's write queue is not empty), the queued write still references the buffer, so the
// buffer is donated to it and a fresh one takes its place. Under normal flow, one buffer
// serves every session; under backpressure, allocation falls back to one buffer per stall.

/** libuv's default read size (64 KiB): one read takes what one loopback segment carries. */
export const READ_BUFFER_BYTES = 64 * 1024;

let shared = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);

/** The buffer the next upstream read goes into (passed as onread.buffer). */
export function readBuffer(): Buffer {
  return shared;
}

/** The current buffer is referenced by a pending write: stop reusing it. */
export function donateReadBuffer(): void {
  shared = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
}
