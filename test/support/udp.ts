// UDP peers for tests: an echo backend (optionally prefixing its id to each reply, and able
// to go silent), and a client that sends one datagram and awaits one reply.
import dgram, { type Socket } from 'node:dgram';
import { once } from 'node:events';

export interface UdpEcho {
  readonly port: number;
  readonly socket: Socket;
  /** Datagrams received. */
  received: number;
  /** When true, the backend reads but never answers. */
  silent: boolean;
  close(): Promise<void>;
}

export async function startUdpEcho(opts: { id?: string; host?: string } = {}): Promise<UdpEcho> {
  const host = opts.host ?? '127.0.0.1';
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const prefix = opts.id === undefined ? null : Buffer.from(`${opts.id}:`);
  const echo: UdpEcho = {
    port: 0,
    socket,
    received: 0,
    silent: false,
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
  socket.on('message', (msg, rinfo) => {
    echo.received++;
    if (echo.silent) return;
    socket.send(prefix === null ? msg : Buffer.concat([prefix, msg]), rinfo.port, rinfo.address);
  });
  socket.bind(0, host);
  await once(socket, 'listening');
  (echo as { port: number }).port = socket.address().port;
  return echo;
}

export interface UdpClient {
  readonly socket: Socket;
  /** Send one datagram and resolve with the next one received. */
  request(msg: Buffer | string): Promise<Buffer>;
  close(): Promise<void>;
}

export async function udpClient(port: number, host = '127.0.0.1'): Promise<UdpClient> {
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  socket.bind(0, host);
  await once(socket, 'listening');
  socket.connect(port, host);
  await once(socket, 'connect');
  socket.on('error', () => {});
  return {
    socket,
    async request(msg) {
      const reply = once(socket, 'message') as Promise<[Buffer]>;
      socket.send(msg);
      return (await reply)[0];
    },
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}
