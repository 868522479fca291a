// The portable receive front-end of a UDP listener: one node:dgram socket; each datagram is
// looked up by its source port and address (one Map lookup, O(1)) and handed to its session,
// or opens one. Replies to clients leave from this socket.
import dgram, { type Socket as DgramSocket, type RemoteInfo } from 'node:dgram';
import type { UdpRouter } from './udp-router.js';

export class DgramFront {
  /** Only the native front-end has an addon socket. */
  readonly batchId = -1;
  private readonly socket: DgramSocket;

  constructor(private readonly router: UdpRouter, type: 'udp4' | 'udp6', bufferBytes: number) {
    this.socket = dgram.createSocket({ type, ipv6Only: false, recvBufferSize: bufferBytes, sendBufferSize: bufferBytes });
    this.socket.on('error', (err: NodeJS.ErrnoException) => router.socketError(err));
    this.socket.on('message', this.onMessage);
  }

  /** Bind; rejects with the socket's error. */
  async listen(host: string, port: number): Promise<{ address: string; port: number }> {
    const socket = this.socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port, address: host === '' ? undefined : host }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return socket.address();
  }

  reply(msg: Buffer, port: number, address: string): void {
    this.socket.send(msg, port, address);
  }

  takeSendDrops(): number {
    return 0;
  }

  close(): Promise<void> {
    return new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  private readonly onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
    const r = this.router;
    r.datagramsIn++;
    let existing = r.byPort.get(rinfo.port);
    let key: string | null = null;
    if (existing === undefined || existing.address !== rinfo.address) {
      // Another client behind the same port number: the full key, one string per datagram.
      key = rinfo.address + ' ' + rinfo.port;
      existing = r.sessions.get(key);
      if (existing !== undefined) r.byPort.set(rinfo.port, existing);
    }
    if (existing !== undefined) {
      // A session whose backend went down moves to another backend on its next datagram.
      if (existing.backend.state !== 'down') {
        existing.send(msg);
        return;
      }
      existing.close('backend_closed', 'backend_down');
    }
    r.openSession(key ?? rinfo.address + ' ' + rinfo.port, rinfo.address, rinfo.family, rinfo.port, -1)?.send(msg);
  };
}
