// Real loopback peers for tests: echo, greeter (server speaks first), and a dead port.
// Every server listens on port 0 and is closed by the caller's teardown.
import net, { type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { freePort } from './net.js';

export interface TestServer {
  readonly server: Server;
  readonly port: number;
  readonly sockets: Set<Socket>;
  /** Connections accepted so far. */
  accepted: number;
  close(): Promise<void>;
}

/** Start a server on 127.0.0.1 (or `host`) port 0 with `onSocket` per connection. */
export async function startServer(onSocket: (s: Socket) => void, host = '127.0.0.1'): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    ts.accepted++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    onSocket(s);
  });
  server.listen(0, host);
  await once(server, 'listening');
  const ts: TestServer = {
    server,
    port: (server.address() as net.AddressInfo).port,
    sockets,
    accepted: 0,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return ts;
}

/** Echoes every byte; ends its side after the client ends (half-close aware). */
export function echoServer(host?: string): Promise<TestServer> {
  return startServer((s) => s.pipe(s), host);
}

/** A port with nothing listening: connects get ECONNREFUSED. */
export const deadPort = freePort;

/**
 * Connect to 127.0.0.1:port (or host) and resolve once connected. Half-open capable by
 * default (the test decides when to end its side); `allowHalfOpen = false` ends our side
 * as soon as the peer's FIN arrives, like most clients.
 */
export async function connect(port: number, host = '127.0.0.1', allowHalfOpen = true): Promise<Socket> {
  const s = net.connect({ port, host, allowHalfOpen });
  await once(s, 'connect');
  return s;
}

/** Collect everything a socket sends until it ends or closes. Resolves on 'close'. */
export function collect(s: Socket): Promise<{ data: Buffer; error: NodeJS.ErrnoException | null }> {
  const chunks: Buffer[] = [];
  let error: NodeJS.ErrnoException | null = null;
  s.on('data', (c: Buffer) => chunks.push(c));
  s.on('error', (e) => (error = e));
  return new Promise((resolve) => s.on('close', () => resolve({ data: Buffer.concat(chunks), error })));
}
