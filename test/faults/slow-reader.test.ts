// Slow and stalled readers on both data paths. The contract (SPEC, Data path and faults): a
// side that reads slowly gets every byte, in order, and only then the FIN; a reset behind its
// back reaches it as a reset even while bytes are still held for it; and one stalled reader
// holds up only its own session, never another one on the same listener.
import t from 'tap';
import type { Socket } from 'node:net';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { startServer, connect } from '../support/backends.js';
import { startLb, simpleConfig } from '../support/lb.js';
import { randomPayload, sha256 } from '../support/random.js';
import { pathsHere } from '../support/datapaths.js';

const SIZE = 8 * 1024 * 1024;
const IDLE = 'idle_timeout = "1h"';

/** Read nothing for `stallMs`, then a few chunks every 2 ms: far slower than loopback. */
function slowReader(s: Socket, stallMs: number): Promise<{ hash: string; bytes: number; end: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  s.pause();
  let timer: NodeJS.Timeout | undefined;
  const start = setTimeout(() => {
    timer = setInterval(() => {
      for (let i = 0, c: Buffer | null; i < 4 && (c = s.read() as Buffer | null) !== null; i++) {
        hash.update(c);
        bytes += c.length;
      }
    }, 2);
  }, stallMs);
  return new Promise((resolve) => {
    const done = (end: string): void => {
      clearTimeout(start);
      clearInterval(timer);
      resolve({ hash: hash.digest('hex'), bytes, end });
    };
    // 'end' only fires once every byte before the FIN was read.
    s.on('end', () => done('fin'));
    s.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? 'error'));
  });
}

for (const datapath of pathsHere()) {
  const global = `datapath = "${datapath}"`;

  t.test(`${datapath}: a backend writes 8 MiB and closes at once; a stalled, then slow client gets every byte, then the FIN`, async (t) => {
    const payload = randomPayload(SIZE);
    const srv = await startServer((s) => s.end(payload));
    t.teardown(() => srv.close());
    const lb = await startLb(t, simpleConfig([srv.port], { global, listener: IDLE }));
    const c = await connect(lb.port('front'));
    const got = await slowReader(c, 200);
    t.equal(got.end, 'fin', 'a clean end');
    t.equal(got.bytes, SIZE, 'every byte');
    t.equal(got.hash, sha256(payload), 'in order, unchanged');
    c.end();
    const line = await lb.logs.waitFor({ msg: 'session ended' });
    t.equal(line.bytes_out, SIZE, 'the access line counts every byte sent to the client');
  });

  t.test(`${datapath}: a client writes 8 MiB and half-closes; a slow backend gets every byte, then its reply reaches the client`, async (t) => {
    const payload = randomPayload(SIZE);
    const srv = await startServer((s) => {
      void slowReader(s, 100).then((got) => s.end(`${got.end} ${got.bytes} ${got.hash}`));
    });
    t.teardown(() => srv.close());
    const lb = await startLb(t, simpleConfig([srv.port], { global, listener: IDLE }));
    const c = await connect(lb.port('front'));
    let reply = '';
    c.on('data', (d: Buffer) => (reply += d.toString()));
    c.end(payload);
    await once(c, 'end');
    t.equal(reply, `fin ${SIZE} ${sha256(payload)}`, 'the backend read every byte, then the FIN; the client read its answer');
    const line = await lb.logs.waitFor({ msg: 'session ended' });
    t.equal(line.bytes_in, SIZE);
  });

  t.test(`${datapath}: a backend resets while bytes are held for a stalled client: the client is reset, never a clean end`, async (t) => {
    // More than every buffer on the way can hold (loopback socket buffers top out at a few
    // MiB each), so the reset cuts the stream short.
    const size = 32 * 1024 * 1024;
    const srv = await startServer((s) => {
      s.write(randomPayload(size));
      setTimeout(() => s.resetAndDestroy(), 300);
    });
    t.teardown(() => srv.close());
    const lb = await startLb(t, simpleConfig([srv.port], { global, listener: IDLE }));
    const c = await connect(lb.port('front'));
    // The client stalls past the reset, then reads what it was sent.
    const got = await slowReader(c, 600);
    t.equal(got.end, 'ECONNRESET', 'the client sees a reset, not a FIN');
    t.ok(got.bytes < size, `the stream was cut short (${got.bytes} of ${size} bytes) and the client was told`);
    const line = await lb.logs.waitFor({ msg: 'session ended' });
    t.equal(line.end, 'backend_reset');
  });

  t.test(`${datapath}: a stalled reader holds up only its own session`, async (t) => {
    const flood = randomPayload(1024 * 1024);
    let backedUp!: () => void;
    const flooding = new Promise<void>((r) => (backedUp = r));
    const srv = await startServer((s) => {
      s.on('error', () => {});
      s.once('data', (d: Buffer) => {
        if (d.toString() === 'flood') {
          // Write until the kernel and lb refuse more, then keep the session open.
          const more = (): void => {
            while (s.writable && s.write(flood));
            backedUp();
          };
          s.on('drain', more);
          more();
        } else {
          s.write(d);
          s.pipe(s);
        }
      });
    });
    t.teardown(() => srv.close());
    const lb = await startLb(t, simpleConfig([srv.port], { global, listener: IDLE }));
    const stalled = await connect(lb.port('front'));
    stalled.on('error', () => {});
    stalled.pause();
    stalled.write('flood');
    // The backend's writes back up: everything between it and the stalled client is full.
    await flooding;

    const payload = randomPayload(4 * 1024 * 1024);
    const c = await connect(lb.port('front'));
    const chunks: Buffer[] = [];
    c.on('data', (d: Buffer) => chunks.push(d));
    c.write(payload);
    let got = 0;
    while (got < payload.length) {
      await once(c, 'data');
      got = chunks.reduce((n, b) => n + b.length, 0);
    }
    t.equal(sha256(Buffer.concat(chunks)), sha256(payload), 'the other session echoes 4 MiB while one reader is stalled');
    c.end();
    stalled.resetAndDestroy();
  });
}
