// Local echo backends for `lb demo`: each TCP echo server writes back what it reads,
// with backpressure (pipe) and half-close (allowHalfOpen: it ends after the client does).
import net, { type Server } from 'node:net';
import dgram from 'node:dgram';
import { once } from 'node:events';

export interface DemoBackend {
  readonly name: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startTcpEcho(name: string): Promise<DemoBackend> {
  const sockets = new Set<net.Socket>();
  const server: Server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('error', () => s.destroy());
    s.on('close', () => sockets.delete(s));
    s.pipe(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    name,
    port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A UDP echo server: each datagram goes back to its sender unchanged. */
export async function startUdpEcho(name: string): Promise<DemoBackend> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
  socket.on('error', () => {});
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return {
    name,
    port: socket.address().port,
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}
