// Binding a stream listener (tcp and http share it): listen on the configured address and
// turn a failure into a BindError (LB_BIND_FAILED) naming the listener and the bind.
import { once } from 'node:events';
import type { Server } from 'node:net';
import type { Address } from '../config/types.js';
import { BindError } from '../errors.js';
import { formatHostPort } from './admission.js';

/** Kernel accept queue; Linux caps it at net.core.somaxconn (4096 here). */
export const BACKLOG = 4096;

/**
 * Listen on `bind` (host '' = all interfaces, dual-stack). `onError` is the server's normal
 * error listener: it is detached while binding so a bind error rejects instead of logging.
 */
export async function listenOn(server: Server, name: string, bind: Address, onError: (err: NodeJS.ErrnoException) => void): Promise<void> {
  server.off('error', onError);
  try {
    const listening = once(server, 'listening');
    server.listen({ host: bind.host === '' ? undefined : bind.host, port: bind.port, backlog: BACKLOG });
    await listening;
  } catch (err) {
    throw new BindError(name, bind.text, err as NodeJS.ErrnoException);
  } finally {
    server.on('error', onError);
  }
}

/** The address `server` is bound to (the OS's choice for port 0), or `bind`'s text before it is. */
export function addressOf(server: Server, bind: Address): string {
  const a = server.address();
  return a === null || typeof a === 'string' ? bind.text : formatHostPort(a.address, a.port);
}
