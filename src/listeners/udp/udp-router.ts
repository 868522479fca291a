// What a UDP receive front-end (dgram-front.ts, batch-front.ts) needs of its listener: the
// session table and the way to open a session for a new client. The front-end finds the
// session of each datagram; the listener decides who may open one.
import type { UdpSession } from './udp-session.js';

export interface UdpRouter {
  /** Sessions by "address port". */
  readonly sessions: Map<string, UdpSession>;
  /**
   * The latest session of each client port. Most datagrams find their session here with a
   * number key and one compare, without building the "address port" key string.
   */
  readonly byPort: Map<number, UdpSession>;
  datagramsIn: number;
  /** Admission, pick and a new session; null (the datagram dropped and counted) when refused. */
  openSession(key: string, address: string, family: string, port: number, slot: number): UdpSession | null;
  /** A receive error on the listener's socket. */
  socketError(err: NodeJS.ErrnoException): void;
}
