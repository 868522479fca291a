// One UDP probe for backends that speak a query protocol (DNS, game server queries): send
// `send` as one datagram to the backend from a connected socket and wait for a reply that
// starts with `expect` (any reply, when `expect` is empty). Silence is failure: a check that
// passes because no ICMP error came back would be a lie. Resolves, never rejects; the socket
// and timer are released on every path.
import dgram from 'node:dgram';
import { errorResult, type ProbeResult, type ProbeTarget } from './probe.js';

export function udpProbe(target: ProbeTarget, signal?: AbortSignal): Promise<ProbeResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    let done = false;
    const socket = dgram.createSocket(target.host.includes(':') ? 'udp6' : 'udp4');
    const finish = (ok: boolean, detail: string, err?: NodeJS.ErrnoException): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      try {
        socket.close();
      } catch {
        // already closed
      }
      const durationMs = performance.now() - started;
      resolve(err === undefined ? { ok, detail, durationMs } : errorResult(err, durationMs));
    };
    const timer = setTimeout(() => finish(false, 'timeout (no reply)'), target.timeoutMs);
    const onAbort = (): void => finish(false, 'aborted');
    signal?.addEventListener('abort', onAbort);
    // EMFILE and the like arrive here too (the implicit bind of connect()): errorResult marks them.
    socket.on('error', (err: NodeJS.ErrnoException) => finish(false, '', err));
    socket.on('message', (msg: Buffer) => {
      const e = target.expect;
      if (msg.length >= e.length && msg.subarray(0, e.length).equals(e)) finish(true, 'ok');
      else finish(false, `unexpected reply: ${JSON.stringify(msg.subarray(0, 64).toString('latin1'))}`);
    });
    socket.connect(target.port, target.host, () => {
      if (!done) socket.send(target.send);
    });
  });
}
