// Error answers, each with a short body and its access line: 502 (connect refused, reset
// before an answer), 503 (no backend up), 504 (no answer within idle_timeout; connect
// timeout), retries on another backend where safe, a response cut mid-body, 414 and 431.
import t from 'tap';
import net from 'node:net';
import http from 'node:http';
import { once } from 'node:events';
import { startLb } from '../support/lb.js';
import { startBlackhole } from '../support/blackhole.js';
import { httpConfig, request, seen, startBackend } from './helpers.js';

/** A port with nothing listening (bound, then closed). */
async function deadPort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  s.close();
  await once(s, 'close');
  return port;
}

t.test('502 when the only backend refuses; retry finds a live one', async (t) => {
  const dead = await deadPort();
  const live = await startBackend(t, 'live');
  const lb = await startLb(t, httpConfig({ main: [dead], mixed: [dead, live.port] }, {
    routes: '[[listeners.web.routes]]\npath_prefix = "/mixed/"\npool = "mixed"\n',
    poolOpts: { main: 'retries = 0', mixed: 'retries = 1' },
  }));
  const port = lb.port('web');
  const a = await request(port, { path: '/x' });
  t.equal(a.status, 502);
  t.equal(a.body.toString(), '502 bad gateway\n');
  t.match(await lb.logs.waitFor({ msg: 'request', path: '/x' }), { status: 502, end: 'connect_failed', detail: 'ECONNREFUSED', backend: `127.0.0.1:${dead}` });
  // Round-robin starts anywhere: over several requests every one lands on the live backend,
  // POST with a body included (nothing was sent to the dead one).
  for (let i = 0; i < 4; i++) {
    const r = await request(port, { method: i % 2 ? 'POST' : 'GET', path: `/mixed/${i}`, body: i % 2 ? 'payload' : undefined });
    t.equal(r.status, 200, `request ${i} retried onto the live backend`);
    t.equal(seen(r).backend, 'live');
  }
});

t.test('503 when no backend is up', async (t) => {
  const dead = await deadPort();
  // With a health check a new backend starts down, and this one never passes a probe.
  const lb = await startLb(t, httpConfig({ main: [dead] }, { extra: '[pools.main.health]\ninterval = "1h"\n' }));
  const a = await request(lb.port('web'), { path: '/none' });
  t.equal(a.status, 503);
  t.equal(a.body.toString(), '503 no backend available\n');
  t.match(await lb.logs.waitFor({ msg: 'request', path: '/none' }), { status: 503, end: 'no_backend', backend: null });
});

t.test('504 when the backend does not answer within idle_timeout', async (t) => {
  const silent = await startBackend(t, 'silent', (req) => req.resume()); // never answers
  const lb = await startLb(t, httpConfig({ main: [silent.port] }, { listener: 'idle_timeout = "100ms"' }));
  const a = await request(lb.port('web'), { path: '/slow' });
  t.equal(a.status, 504);
  t.equal(a.body.toString(), '504 gateway timeout\n');
  t.match(await lb.logs.waitFor({ msg: 'request', path: '/slow' }), { status: 504, end: 'idle_timeout', detail: 'LB_HTTP_TIMEOUT' });
});

t.test('504 when the connect times out (backend accept queue full)', async (t) => {
  const hole = await startBlackhole();
  t.teardown(() => hole.close());
  const lb = await startLb(t, httpConfig({ main: [hole.port] }, { listener: 'connect_timeout = "100ms"', poolOpts: { main: 'retries = 0' } }));
  const a = await request(lb.port('web'), { path: '/hole' });
  t.equal(a.status, 504);
  t.match(await lb.logs.waitFor({ msg: 'request', path: '/hole' }), { status: 504, end: 'connect_failed', detail: 'LB_CONNECT_TIMEOUT' });
});

t.test('502 on a reset after the request was sent; idempotent GET retried, POST not', async (t) => {
  let resets = 0;
  const rst = await startBackend(t, 'rst', (req) => {
    resets++;
    req.socket.resetAndDestroy();
  });
  const live = await startBackend(t, 'live');
  const lb = await startLb(t, httpConfig({ main: [rst.port], two: [rst.port, live.port] }, {
    routes: '[[listeners.web.routes]]\npath_prefix = "/two/"\npool = "two"\n',
    poolOpts: { main: 'retries = 2' },
  }));
  const port = lb.port('web');
  const post = await request(port, { method: 'POST', path: '/post', body: 'once' });
  t.equal(post.status, 502);
  t.equal(resets, 1, 'a POST with a body is never repeated');
  t.match(await lb.logs.waitFor({ msg: 'request', path: '/post' }), { status: 502, end: 'backend_closed', detail: 'ECONNRESET' });
  resets = 0;
  const get = await request(port, { path: '/get' });
  t.equal(get.status, 502);
  t.equal(resets, 1, 'a GET is retried only on other backends (one here)');
  for (let i = 0; i < 3; i++) {
    const r = await request(port, { path: `/two/${i}` });
    t.equal(r.status, 200, 'GET retried on the other backend');
  }
});

t.test('a response cut mid-body is cut for the client too', async (t) => {
  const cut = await startBackend(t, 'cut', (_req, res) => {
    res.writeHead(200, { 'content-length': 1000 });
    res.write('x'.repeat(100), () => res.socket!.destroy());
  });
  const lb = await startLb(t, httpConfig({ main: [cut.port] }));
  const err = await new Promise<Error>((resolve) => {
    http.get({ host: '127.0.0.1', port: lb.port('web'), path: '/cut', agent: false }, (res) => {
      res.resume();
      res.on('error', resolve);
      res.on('end', () => resolve(new Error('ended normally')));
    }).on('error', resolve);
  });
  t.not(err.message, 'ended normally', 'the client sees an aborted response');
  t.match(await lb.logs.waitFor({ msg: 'request', path: '/cut' }), { status: 200, end: 'backend_closed' });
});

t.test('414 for an over-long target, 431 for over-large headers', async (t) => {
  const b = await startBackend(t, 'main');
  const lb = await startLb(t, httpConfig({ main: [b.port] }));
  const port = lb.port('web');
  const long = await request(port, { path: '/' + 'a'.repeat(9000) });
  t.equal(long.status, 414);
  t.match(await lb.logs.waitFor({ msg: 'request', status: 414 }), { end: 'denied', detail: 'uri_too_long' });
  const big = await request(port, { headers: { 'x-big': 'b'.repeat(20_000) } }).catch((e: Error) => e);
  t.equal((big as { status?: number }).status, 431);
  t.match(await lb.logs.waitFor({ msg: 'request', status: 431 }), { end: 'error', detail: 'HPE_HEADER_OVERFLOW' });
  t.equal(b.requests, 0, 'neither reached the backend');
});
