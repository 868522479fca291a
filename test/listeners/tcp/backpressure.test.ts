// Backpressure both ways: a slow reader on one side must stall the fast writer on the other,
// and lb's own buffers (its socket write queues) must stay bounded while data flows.
// The bound is observed on lb's real sockets, sampled on each chunk lb receives.
import t from 'tap';
import type { Socket } from 'node:net';
import { startServer, connect } from '../../support/backends.js';
import { startLb, simpleConfig } from '../../support/lb.js';
import type { TcpListener } from '../../../src/listeners/tcp/tcp-listener.js';

const TOTAL = 32 * 1024 * 1024;
const CHUNK = 64 * 1024;
// Generous: a socket's writable high-water mark is 16 KiB and lb pauses the source when it
// is reached; one in-flight chunk of up to 64 KiB can land on top of it.
const BOUND = 1024 * 1024;

/** Write `total` bytes honouring backpressure; resolves when all were handed to the kernel. */
async function writeAll(s: Socket, total: number): Promise<void> {
  const chunk = Buffer.alloc(CHUNK, 0x61);
  let sent = 0;
  while (sent < total) {
    const n = Math.min(CHUNK, total - sent);
    sent += n;
    if (!s.write(n === CHUNK ? chunk : chunk.subarray(0, n))) {
      await new Promise((r) => s.once('drain', r));
    }
  }
  s.end();
}

/** Read at a bounded pace: one chunk per tick of `everyMs`, so the reader is slower than loopback. */
function slowRead(s: Socket, everyMs: number): Promise<number> {
  let got = 0;
  s.pause();
  const timer = setInterval(() => {
    let c: Buffer | null;
    let n = 0;
    while (n < 4 && (c = s.read() as Buffer | null) !== null) {
      got += c.length;
      n++;
    }
  }, everyMs);
  return new Promise((resolve) => {
    s.on('end', () => {
      clearInterval(timer);
      resolve(got);
    });
    s.on('close', () => {
      clearInterval(timer);
      let c: Buffer | null;
      while ((c = s.read() as Buffer | null) !== null) got += c.length;
      resolve(got);
    });
  });
}

t.test('slow client, fast backend: lb buffers a bounded amount', async (t) => {
  let backendFinished!: () => void;
  const finished = new Promise<void>((r) => (backendFinished = r));
  const src = await startServer((s) => {
    void writeAll(s, TOTAL).then(backendFinished);
  });
  t.teardown(() => src.close());
  const lb = await startLb(t, simpleConfig([src.port]));
  const client = await connect(lb.port('front'));
  const reading = slowRead(client, 2);
  const listener = lb.runtime.listeners.get('front') as TcpListener;
  // Wait for the session to be spliced, then sample lb's buffers on every chunk it receives.
  let session = [...listener.sessions][0];
  while (!session || !session.isEstablished) {
    await new Promise((r) => setImmediate(r));
    session = [...listener.sessions][0];
  }
  // Backend bytes reach lb through onread (no 'data' events), so sample on a 1 ms timer.
  let maxBuffered = 0;
  let samples = 0;
  const sampler = setInterval(() => {
    const s = [...listener.sessions][0];
    if (!s) return;
    const buffered = s.queuedToClient;
    samples++;
    if (buffered > maxBuffered) maxBuffered = buffered;
  }, 1);
  const got = await reading;
  await finished;
  clearInterval(sampler);
  t.equal(got, TOTAL, 'every byte reached the slow client');
  t.ok(samples > 100, `sampled ${samples} chunks`);
  t.ok(maxBuffered > 0, 'lb did hold bytes for the slow client (the sampler saw them)');
  t.ok(maxBuffered <= BOUND, `lb buffered at most ${maxBuffered} bytes (bound ${BOUND})`);
  t.comment(`slow reader: max bytes buffered in lb = ${maxBuffered}`);
});

t.test('fast client, slow backend: lb buffers a bounded amount', async (t) => {
  let backendGot!: (n: number) => void;
  const received = new Promise<number>((r) => (backendGot = r));
  const sink = await startServer((s) => {
    void slowRead(s, 2).then((n) => {
      backendGot(n);
      s.end();
    });
  });
  t.teardown(() => sink.close());
  const lb = await startLb(t, simpleConfig([sink.port]));
  const client = await connect(lb.port('front'));
  client.resume();
  const listener = lb.runtime.listeners.get('front') as TcpListener;
  let session = [...listener.sessions][0];
  while (!session || !session.isEstablished) {
    await new Promise((r) => setImmediate(r));
    session = [...listener.sessions][0];
  }
  // Client bytes reach lb through its read buffer (no 'data' events): sample on a 1 ms timer.
  let maxBuffered = 0;
  let samples = 0;
  const sampler = setInterval(() => {
    const s = [...listener.sessions][0];
    if (!s) return;
    const buffered = s.queuedToUpstream;
    samples++;
    if (buffered > maxBuffered) maxBuffered = buffered;
  }, 1);
  await writeAll(client, TOTAL);
  t.equal(await received, TOTAL, 'every byte reached the slow backend');
  clearInterval(sampler);
  t.ok(samples > 100, `sampled ${samples} chunks`);
  t.ok(maxBuffered > 0, 'lb did hold bytes for the slow backend (the sampler saw them)');
  t.ok(maxBuffered <= BOUND, `lb buffered at most ${maxBuffered} bytes (bound ${BOUND})`);
});
