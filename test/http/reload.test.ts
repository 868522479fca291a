// Reload of an http listener keeps its socket (same port, open keep-alive connections keep
// working) and applies the new routes to the next request; stop drains in-flight requests.
import t from 'tap';
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { startLb } from '../support/lb.js';
import { writeConfig } from '../support/lb-process.js';
import { httpConfig, request, seen, startBackend } from './helpers.js';

t.test('reload keeps the socket and applies new routes', async (t) => {
  const a = await startBackend(t, 'a');
  const b = await startBackend(t, 'b');
  const route = (pool: string): string => `[[listeners.web.routes]]\npath_prefix = "/r/"\npool = "${pool}"\n`;
  const text1 = httpConfig({ main: [a.port], a: [a.port], b: [b.port] }, { routes: route('a') });
  const file = writeConfig(text1);
  const lb = await startLb(t, text1, { configFile: file });
  const port = lb.port('web');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  t.equal(seen(await request(port, { path: '/r/1', agent })).backend, 'a');

  writeFileSync(file, httpConfig({ main: [a.port], a: [a.port], b: [b.port] }, { routes: route('b'), listener: 'header_timeout = "5s"' }));
  const result = await lb.runtime.reload();
  t.match(result, { ok: true, changed: true });
  t.equal(lb.port('web'), port, 'same port');
  const after = await request(port, { path: '/r/2', agent });
  t.equal(seen(after).backend, 'b', 'new route applied on the kept keep-alive connection');
  const lines = lb.logs.matching({ msg: 'request' });
  t.equal(lines.length, 2);
  t.equal(lines[0]!.client, lines[1]!.client, 'both requests came over one client connection');
  t.equal(lb.logs.matching({ msg: 'listening', listener: 'web' }).length, 1, 'the listener was not re-opened');
});

t.test('stop lets an in-flight request finish, then closes', async (t) => {
  let answer: (() => void) | null = null;
  let arrived!: () => void;
  const arrival = new Promise<void>((resolve) => (arrived = resolve));
  const backend = await startBackend(t, 'slow', (req, res) => {
    req.resume();
    answer = () => res.end('late but whole');
    arrived();
  });
  const lb = await startLb(t, httpConfig({ main: [backend.port] }));
  const port = lb.port('web');
  const pending = request(port, { path: '/inflight', agent: new http.Agent({ keepAlive: true }) });
  await arrival;
  const stopped = lb.runtime.stop(5000);
  answer!();
  const res = await pending;
  t.equal(res.status, 200);
  t.equal(res.body.toString(), 'late but whole');
  t.equal(res.headers['connection'], 'close', 'the client is told the connection ends');
  await stopped;
  t.match(lb.logs.matching({ msg: 'request' })[0], { end: 'complete', status: 200 });
  t.equal(lb.runtime.listeners.get('web')!.activeSessions, 0);
});
