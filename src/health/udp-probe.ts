// One UDP probe for backends that speak a query protocol (DNS, game server queries): send
// `send` as one datagram to the backend from a connected socket and wait for a reply that
// starts with `expect` (any reply, when `expect` is empty). Silence is failure: a check that
// passes because no ICMP error came back would be a lie. Resolves, never rejects; the socket
// and timer are released on every path.
import dgram from 'node:dgram';
import { probeEnd, show, type ProbeResult, type ProbeTarget } from './probe.js';

export function udpProbe(target: ProbeTarget, signal?: AbortSignal): Promise<ProbeResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    let closed = false;
    const socket = dgram.createSocket(target.host.includes(':') ? 'udp6' : 'udp4');
    const release = (): void => {
      closed = true;
      try {
        socket.close();
      } catch {
        // already closed
      }
    };
    const finish = probeEnd(started, target.timeoutMs, 'timeout (no reply)', signal, release, resolve);
    // EMFILE and the like arrive here too (the implicit bind of connect()): a local error.
    socket.on('error', (err: NodeJS.ErrnoException) => finish(false, '', err));
    socket.on('message', (msg: Buffer) => {
      const e = target.expect;
      if (msg.length >= e.length && msg.subarray(0, e.length).equals(e)) finish(true, 'ok');
      else finish(false, `unexpected reply: ${show(msg)}`);
    });
    socket.connect(target.port, target.host, () => {
      if (!closed) socket.send(target.send);
    });
  });
}
