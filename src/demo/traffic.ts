// Demo traffic: a few client loops sending random payloads through the balancer and checking
// each echo byte for byte. TCP clients open a connection per exchange; UDP clients keep one
// socket (one session) each. Bounded: every loop stops on stop().
import net from 'node:net';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';

export interface TrafficStats {
  ok: number;
  failed: number;
  bytes: number;
}

/** One demo client: exchanges payloads until closed. */
interface DemoClient {
  /** Send `payload`, resolve true when exactly the same bytes came back. */
  exchange(payload: Buffer): Promise<boolean>;
  close(): void;
}

interface TrafficOptions {
  connect(): Promise<DemoClient>;
  minBytes: number;
  maxBytes: number;
  /** Pause between exchanges, so the demo's table stays readable. */
  paceMs: number;
}

export class DemoTraffic {
  readonly stats: TrafficStats = { ok: 0, failed: 0, bytes: 0 };
  private running = true;
  private readonly loops: Promise<void>[] = [];

  constructor(clients: number, private readonly opts: TrafficOptions) {
    for (let i = 0; i < clients; i++) this.loops.push(this.loop());
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(): Promise<void> {
    const { minBytes, maxBytes, paceMs } = this.opts;
    const client = await this.opts.connect();
    while (this.running) {
      const payload = randomBytes(minBytes + Math.floor(Math.random() * (maxBytes - minBytes)));
      if (await client.exchange(payload)) {
        this.stats.ok++;
        this.stats.bytes += payload.length * 2;
      } else {
        this.stats.failed++;
      }
      await new Promise((r) => setTimeout(r, paceMs));
    }
    client.close();
  }
}

/** TCP: a new connection per exchange (about 20 per second per client). */
export function tcpTraffic(port: number, clients: number): DemoTraffic {
  const exchange = (payload: Buffer): Promise<boolean> =>
    new Promise((resolve) => {
      const chunks: Buffer[] = [];
      const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      s.setTimeout(5000, () => s.destroy(new Error('timeout')));
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('error', () => resolve(false));
      s.on('close', () => resolve(Buffer.concat(chunks).equals(payload)));
      s.end(payload);
    });
  return new DemoTraffic(clients, {
    connect: async () => ({ exchange, close: () => {} }),
    minBytes: 1024,
    maxBytes: 65 * 1024,
    paceMs: 50,
  });
}

/** UDP: one socket per client (one session each); no matching reply within a second fails. */
export function udpTraffic(port: number, clients: number): DemoTraffic {
  const connect = async (): Promise<DemoClient> => {
    const s = dgram.createSocket('udp4');
    s.on('error', () => {});
    s.connect(port, '127.0.0.1');
    await once(s, 'connect');
    const exchange = (payload: Buffer): Promise<boolean> =>
      new Promise((resolve) => {
        const timer = setTimeout(() => {
          s.off('message', onMessage);
          resolve(false);
        }, 1000);
        const onMessage = (m: Buffer): void => {
          clearTimeout(timer);
          resolve(m.equals(payload));
        };
        s.once('message', onMessage);
        s.send(payload);
      });
    return { exchange, close: () => s.close() };
  };
  return new DemoTraffic(clients, { connect, minBytes: 64, maxBytes: 1264, paceMs: 100 });
}
