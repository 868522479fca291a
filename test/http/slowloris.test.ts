// Slowloris: a client that drips its request head is cut at header_timeout with 408 and an
// access line, while other clients keep being served.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { startLb } from '../support/lb.js';
import { httpConfig, request, settled, startBackend } from './helpers.js';

t.test('a dripping request head is cut at header_timeout; others unaffected', async (t) => {
  const backend = await startBackend(t, 'main');
  const lb = await startLb(t, httpConfig({ main: [backend.port] }, { listener: 'header_timeout = "300ms"' }));
  const port = lb.port('web');
  const slow = net.connect(port, '127.0.0.1');
  await once(slow, 'connect');
  const started = performance.now();
  slow.write('GET /slow HTTP/1.1\r\nHost: x\r\n');
  // The attacker: one header byte every 20 ms, never finishing the head.
  const drip = setInterval(() => slow.writable && slow.write('X'), 20);
  t.teardown(() => clearInterval(drip));
  let text = '';
  slow.setEncoding('utf8').on('data', (d: string) => (text += d));
  slow.on('error', () => {});
  const closed = once(slow, 'close');

  // Meanwhile other clients get answers.
  for (let i = 0; i < 5; i++) t.equal((await request(port, { path: `/ok/${i}` })).status, 200, `normal request ${i} served`);

  await closed;
  clearInterval(drip);
  const elapsed = performance.now() - started;
  t.match(text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
  t.ok(elapsed >= 300 && elapsed < 5000, `cut after header_timeout (${Math.round(elapsed)} ms)`);
  t.match(await lb.logs.waitFor({ msg: 'request', status: 408 }), { listener: 'web', end: 'idle_timeout', detail: 'header_timeout', client: /^127\.0\.0\.1:\d+$/, backend: null });
  t.equal(backend.requests, 5, 'the slow request never reached a backend');
  t.ok(await settled(() => lb.runtime.listeners.get('web')!.activeSessions === 0), 'its connection slot is released');
  t.equal(lb.runtime.budget.active, 0, 'and its global budget slot');
});
