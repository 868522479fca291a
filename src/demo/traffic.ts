// Demo traffic: a few client loops, each opening a connection through the balancer, sending
// a random payload, checking the echo byte for byte, and closing. Bounded: stops on stop().
import net from 'node:net';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';

export interface TrafficStats {
  ok: number;
  failed: number;
  bytes: number;
}

export class DemoTraffic {
  readonly stats: TrafficStats = { ok: 0, failed: 0, bytes: 0 };
  private running = true;
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly port: number, clients: number) {
    for (let i = 0; i < clients; i++) this.loops.push(this.loop());
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const size = 1024 + Math.floor(Math.random() * 64 * 1024);
      const ok = await this.exchange(randomBytes(size));
      if (ok) {
        this.stats.ok++;
        this.stats.bytes += size * 2;
      } else {
        this.stats.failed++;
      }
      // Pace the demo so the table is readable: about 20 exchanges/s per client.
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private exchange(payload: Buffer): Promise<boolean> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let got = 0;
      const s = net.connect({ port: this.port, host: '127.0.0.1', allowHalfOpen: true });
      s.setTimeout(5000, () => s.destroy(new Error('timeout')));
      s.on('data', (c: Buffer) => {
        chunks.push(c);
        got += c.length;
      });
      s.on('error', () => resolve(false));
      s.on('close', () => resolve(got === payload.length && Buffer.concat(chunks).equals(payload)));
      s.end(payload);
    });
  }
}

/**
 * UDP demo traffic: `clients` sockets (each its own session), each sending a datagram and
 * awaiting its echo every 100 ms. A reply that does not match, or none within a second,
 * counts as failed.
 */
export class DemoUdpTraffic {
  readonly stats: TrafficStats = { ok: 0, failed: 0, bytes: 0 };
  private running = true;
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly port: number, clients: number) {
    for (let i = 0; i < clients; i++) this.loops.push(this.loop());
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(): Promise<void> {
    const s = dgram.createSocket('udp4');
    s.on('error', () => {});
    s.connect(this.port, '127.0.0.1');
    await once(s, 'connect');
    while (this.running) {
      const payload = randomBytes(64 + Math.floor(Math.random() * 1200));
      const ok = await new Promise<boolean>((resolve) => {
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
      if (ok) {
        this.stats.ok++;
        this.stats.bytes += payload.length * 2;
      } else {
        this.stats.failed++;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    s.close();
  }
}
