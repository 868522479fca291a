// The Node internals lb relies on, all of them, in one place. The portable data path uses
// none; the native path needs one: the file descriptor of an accepted net.Socket, handed to
// the relay addon (which takes a duplicate of it). Node has no public accessor for it, so it
// is read from the socket's libuv handle (`_handle.fd`, a getter on TCPWrap since Node 0.x).
// test/listeners/node-internals.test.ts checks it on every run against a real accepted
// socket (fstat says it is a socket, and its peer is the client), so a Node release that
// changes it fails that test loudly; at run time a missing fd makes the listener fall back
// to the portable path for that connection instead of failing.
import type { Socket } from 'node:net';

/** The socket's file descriptor, or -1 when this Node does not expose it. */
export function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : -1;
}
