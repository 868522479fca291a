// Per-route rate limit by client IP: a token bucket; over it the answer is 429 with
// Retry-After, other routes are unaffected; the bucket map stays bounded.
import t from 'tap';
import { startLb } from '../support/lb.js';
import { RateLimiter } from '../../src/http/rate-limit.js';
import { httpConfig, request, startBackend } from './helpers.js';

t.test('429 with Retry-After once the burst is spent', async (t) => {
  const backend = await startBackend(t, 'main');
  const lb = await startLb(t, httpConfig({ main: [backend.port] }, {
    routes: '[[listeners.web.routes]]\npath_prefix = "/api/"\npool = "main"\nrate_limit = { requests = 1, per = "10s", burst = 3 }\n',
  }));
  const port = lb.port('web');
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await request(port, { path: `/api/${i}` })).status);
  t.same(statuses, [200, 200, 200, 429, 429], 'burst of 3, then limited');
  const limited = await request(port, { path: '/api/again' });
  t.equal(limited.status, 429);
  const retry = Number(limited.headers['retry-after']);
  t.ok(retry >= 1 && retry <= 10, `Retry-After in seconds (${retry})`);
  t.equal(limited.body.toString(), '429 too many requests\n');
  t.equal((await request(port, { path: '/other' })).status, 200, 'routes without a limit are not limited');
  t.equal(backend.requests, 4);
  t.match(await lb.logs.waitFor({ msg: 'request', status: 429 }), { end: 'denied', detail: 'rate_limit', backend: null, path: '/api/3' });
});

t.test('token bucket arithmetic and bounded map', async (t) => {
  const rl = new RateLimiter({ requests: 10, perMs: 1000, burst: 2 }, 100);
  t.equal(rl.take('a', 0), 0);
  t.equal(rl.take('a', 0), 0);
  t.equal(rl.take('a', 0), 1, 'empty: a token is back within a second');
  t.equal(rl.take('a', 100), 0, '100 ms at 10/s refills one token');
  t.equal(rl.take('a', 100), 1);
  t.equal(rl.take('b', 100), 0, 'buckets are per key');
  const slow = new RateLimiter({ requests: 1, perMs: 60_000, burst: 1 });
  t.equal(slow.take('x', 0), 0);
  t.equal(slow.take('x', 1000), 59, 'Retry-After rounds the wait up to whole seconds');

  // A flood of distinct clients never grows the map past its cap.
  for (let i = 0; i < 1000; i++) rl.take(`ip${i}`, 200);
  t.ok(rl.size <= 100, `bounded (${rl.size})`);
  // Idle buckets (full again) are swept on the next insert after the sweep interval.
  rl.take('late', 200 + 60_000);
  t.equal(rl.size, 1, 'idle buckets evicted');
});
