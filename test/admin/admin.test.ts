// The admin API on a real runtime with real HTTP requests: every endpoint and error code,
// metrics that parse and move with traffic, drain and enable through the API, reload. The
// admin service is attached to the runtime as cli/run.ts does (the runtime never builds it).
import t, { type Test } from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { echoServer, connect, collect, type TestServer } from '../support/backends.js';
import { writeConfig } from '../support/lb-process.js';
import { request, parseExposition, value } from '../support/http.js';
import { LogCapture } from '../support/log-capture.js';
import type { StatusDoc } from '../../src/admin/status.js';
import { AdminService } from '../../src/admin/admin-service.js';
import { parseConfigText } from '../../src/config/load.js';
import { formatProblem } from '../../src/config/validate.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { countLocalError, localErrors } from '../../src/local-errors.js';

/** A runtime with the admin service attached before start, as `lb run` wires it. */
async function startLb(t: Test, toml: string, opts: { configFile?: string } = {}): Promise<{ runtime: Runtime; admin: AdminService; logs: LogCapture; port(name: string): number }> {
  const loaded = parseConfigText(toml, 'test.toml');
  if (!loaded.ok) throw new Error('test config invalid:\n' + loaded.problems.map(formatProblem).join('\n'));
  const logs = new LogCapture();
  const runtime = new Runtime(loaded.config, logs.logger('debug'), { configFile: opts.configFile ?? null });
  const admin = new AdminService(runtime, runtime.log);
  runtime.attach(admin);
  await runtime.start();
  t.teardown(() => runtime.stop(0));
  return {
    runtime,
    admin,
    logs,
    port(name: string): number {
      const b = runtime.listeners.get(name)!.boundAddress();
      return Number(b.slice(b.lastIndexOf(':') + 1));
    },
  };
}

let a: TestServer, b: TestServer;
t.before(async () => {
  [a, b] = await Promise.all([echoServer(), echoServer()]);
});
t.teardown(() => Promise.all([a.close(), b.close()]));

const config = (extra = ''): string => `[global]
drain_timeout = "5s"
[admin]
bind = "127.0.0.1:0"
[listeners.front]
bind = "127.0.0.1:0"
pool = "p"
[pools.p]
backends = [{ address = "127.0.0.1:${a.port}" }, { address = "127.0.0.1:${b.port}" }]
${extra}`;

async function echoOnce(port: number, msg = 'hi'): Promise<string> {
  const s = await connect(port, '127.0.0.1', false);
  const got = collect(s);
  s.end(msg);
  return (await got).data.toString();
}

t.test('healthz, status, metrics', async (t) => {
  const lb = await startLb(t, config());
  const admin = lb.admin.server!.port;
  const h = await request(admin, 'GET', '/healthz');
  t.equal(h.status, 200);
  t.equal(h.body, 'ok', 'exactly "ok", as SPEC writes it');
  t.equal((await request(admin, 'HEAD', '/healthz')).status, 200);

  t.equal(await echoOnce(lb.port('front'), 'abcdef'), 'abcdef');
  const s = await request(admin, 'GET', '/status');
  t.equal(s.status, 200);
  t.match(s.headers['content-type'], /application\/json/);
  const doc = JSON.parse(s.body) as StatusDoc;
  t.equal(doc.listeners.length, 1);
  t.match(doc.listeners[0], { name: 'front', protocol: 'tcp', pool: 'p', active: 0, total: 1, bytes_in: 6, bytes_out: 6 });
  t.match(doc.listeners[0]!.bind, /^127\.0\.0\.1:\d+$/);
  t.equal(doc.pools[0]!.name, 'p');
  t.equal(doc.pools[0]!.backends.length, 2);
  for (const be of doc.pools[0]!.backends) {
    t.same(Object.keys(be).sort(), ['active', 'address', 'agent_state', 'bytes_in', 'bytes_out', 'connect_failures', 'effective_weight', 'last_check', 'removed', 'state', 'total', 'utilization', 'weight']);
    t.equal(be.state, 'up');
  }
  t.equal(doc.pools[0]!.backends.reduce((n, x) => n + x.total, 0), 1);

  const m1 = await request(admin, 'GET', '/metrics');
  t.equal(m1.status, 200);
  t.match(m1.headers['content-type'], /text\/plain/);
  const e1 = parseExposition(m1.body);
  t.equal(e1.types.get('lb_listener_sessions_total'), 'counter');
  t.equal(e1.types.get('lb_backend_active_sessions'), 'gauge');
  t.equal(value(e1, 'lb_listener_sessions_total', { listener: 'front' }), 1);
  t.equal(value(e1, 'lb_listener_in_bytes_total', { listener: 'front' }), 6);
  t.equal(value(e1, 'lb_backend_up', { pool: 'p', backend: `127.0.0.1:${a.port}` }), 1);
  t.equal(value(e1, 'lb_backend_state', { pool: 'p', backend: `127.0.0.1:${a.port}`, state: 'up' }), 1);
  t.equal(value(e1, 'lb_reloads_total', { outcome: 'applied' }), 0);
  t.ok(value(e1, 'process_resident_memory_bytes')! > 0, 'process metrics present');
  for (const name of e1.types.keys()) if (e1.types.get(name) === 'counter') t.match(name, /_total$/, `${name} ends in _total`);

  // Traffic moves the counters.
  for (let i = 0; i < 4; i++) await echoOnce(lb.port('front'), 'xyz');
  const e2 = parseExposition((await request(admin, 'GET', '/metrics')).body);
  t.equal(value(e2, 'lb_listener_sessions_total', { listener: 'front' }), 5);
  t.equal(value(e2, 'lb_listener_out_bytes_total', { listener: 'front' }), 6 + 12);
  const perBackend = e2.samples.filter((x) => x.name === 'lb_backend_sessions_total').reduce((n, x) => n + x.value, 0);
  t.equal(perBackend, 5);
});

t.test('bytes of a session still open show in /status and /metrics at once', async (t) => {
  // The default idle_timeout (1h) makes the idle sweep run once a second; a session's bytes
  // must not wait for it (the native relay counts them in C++ and credits them when asked).
  const lb = await startLb(t, config());
  const admin = lb.admin.server!.port;
  const s = await connect(lb.port('front'), '127.0.0.1', false);
  t.teardown(() => s.destroy());
  const payload = Buffer.alloc(3000, 0x62);
  s.write(payload);
  await new Promise<void>((resolve) => {
    let echoed = 0;
    s.on('data', (chunk: Buffer) => {
      echoed += chunk.length;
      if (echoed === payload.length) resolve();
    });
  });
  const doc = JSON.parse((await request(admin, 'GET', '/status')).body) as StatusDoc;
  t.match(doc.listeners[0], { active: 1, bytes_in: 3000, bytes_out: 3000 }, 'listener counters include the open session');
  const backend = doc.pools[0]!.backends.find((x) => x.active === 1)!;
  t.match(backend, { bytes_in: 3000, bytes_out: 3000 }, 'and so do its backend\'s');
  const e = parseExposition((await request(admin, 'GET', '/metrics')).body);
  t.equal(value(e, 'lb_listener_in_bytes_total', { listener: 'front' }), 3000);
  t.equal(value(e, 'lb_listener_out_bytes_total', { listener: 'front' }), 3000);
  s.end();
  await once(s, 'close');
});

t.test('error codes: 404 route, 405 method, 404 pool and backend, 400 encoding', async (t) => {
  const lb = await startLb(t, config());
  const admin = lb.admin.server!.port;
  const cases: Array<[string, string, number]> = [
    ['GET', '/nope', 404],
    ['GET', '/', 404],
    ['POST', '/status', 405],
    ['DELETE', '/metrics', 405],
    ['GET', '/reload', 405],
    ['GET', `/pools/p/backends/${encodeURIComponent(`127.0.0.1:${a.port}`)}/drain`, 405],
    ['POST', '/pools/nope/backends/1.2.3.4%3A5/drain', 404],
    ['POST', '/pools/p/backends/10.9.9.9%3A5432/drain', 404],
    ['POST', '/pools/p/backends/10.9.9.9%3A5432/enable', 404],
    ['POST', '/pools/p/backends/%E0%A4%A/drain', 400],
    ['POST', `/pools/p/backends/${encodeURIComponent(`127.0.0.1:${a.port}`)}/explode`, 404],
  ];
  for (const [method, path, status] of cases) {
    const r = await request(admin, method, path);
    t.equal(r.status, status, `${method} ${path} → ${status}`);
    t.match(r.headers['content-type'], /application\/json/);
    t.type((JSON.parse(r.body) as { error: string }).error, 'string');
    if (status === 405) t.type(r.headers.allow, 'string');
  }
});

t.test('drain via the API: no new connections to that backend, an open one continues; enable', async (t) => {
  const lb = await startLb(t, config());
  const admin = lb.admin.server!.port;
  const keyA = `127.0.0.1:${a.port}`;
  const pool = lb.runtime.pools.get('p')!;
  const open: net.Socket[] = [];
  while (pool.get(keyA)!.active === 0) {
    const s = await connect(lb.port('front'), '127.0.0.1', false);
    s.write('x');
    await once(s, 'data');
    open.push(s);
  }
  const r = await request(admin, 'POST', `/pools/p/backends/${encodeURIComponent(keyA)}/drain`);
  t.equal(r.status, 200);
  t.match(JSON.parse(r.body), { pool: 'p', backend: keyA, state: 'draining', active: 1 });
  const before = a.accepted;
  for (let i = 0; i < 6; i++) t.equal(await echoOnce(lb.port('front')), 'hi');
  t.equal(a.accepted, before, 'the drained backend got no new connection');
  const onA = open.find((s) => s.remotePort !== undefined)!;
  for (const s of open) {
    s.write('still');
    const [d] = (await once(s, 'data')) as [Buffer];
    t.equal(d.toString(), 'still', 'open connection continues');
  }
  void onA;
  const st = JSON.parse((await request(admin, 'GET', '/status')).body) as StatusDoc;
  t.equal(st.pools[0]!.backends.find((x) => x.address === keyA)!.state, 'draining');
  const e = parseExposition((await request(admin, 'GET', '/metrics')).body);
  t.equal(value(e, 'lb_backend_state', { backend: keyA, state: 'draining' }), 1);
  const en = await request(admin, 'POST', `/pools/p/backends/${encodeURIComponent(keyA)}/enable`);
  t.equal(en.status, 200);
  t.equal(JSON.parse(en.body).state, 'up');
  for (const s of open) s.destroy();
});

t.test('POST /reload: applied, then rejected with every problem', async (t) => {
  const file = writeConfig(config());
  const lb = await startLb(t, config(), { configFile: file });
  const admin = lb.admin.server!.port;
  writeFileSync(file, config().replace(`{ address = "127.0.0.1:${b.port}" }`, `{ address = "127.0.0.1:${b.port}", weight = 3 }`));
  const ok = await request(admin, 'POST', '/reload');
  t.equal(ok.status, 200);
  t.match(JSON.parse(ok.body), { ok: true, changed: true });
  t.equal(lb.runtime.pools.get('p')!.get(`127.0.0.1:${b.port}`)!.weight, 3);
  writeFileSync(file, config('[pools.q]\nalgorithm = "random"\n'));
  const bad = await request(admin, 'POST', '/reload');
  t.equal(bad.status, 422);
  const body = JSON.parse(bad.body) as { ok: boolean; problems: string[] };
  t.equal(body.ok, false);
  t.ok(body.problems.length >= 2, body.problems.join('\n'));
  t.match(body.problems.join('\n'), /pools\.q\.algorithm/);
  const e = parseExposition((await request(admin, 'GET', '/metrics')).body);
  t.equal(value(e, 'lb_reloads_total', { outcome: 'applied' }), 1);
  t.equal(value(e, 'lb_reloads_total', { outcome: 'rejected' }), 1);
  // The admin server survives a reload that keeps its bind, and goes away with [admin].
  const adminObj = lb.admin.server;
  writeFileSync(file, config());
  t.equal((await request(admin, 'POST', '/reload')).status, 200);
  t.equal(lb.admin.server, adminObj, 'same admin server');
  writeFileSync(file, config().replace('[admin]\nbind = "127.0.0.1:0"\n', ''));
  t.equal((await lb.runtime.reload()).ok, true);
  t.equal(lb.admin.server, null);
  await t.rejects(request(admin, 'GET', '/healthz'), 'admin closed');
  // And comes back with it, on a new socket.
  writeFileSync(file, config());
  t.equal((await lb.runtime.reload()).ok, true);
  t.not(lb.admin.server, null);
  t.equal((await request(lb.admin.server!.port, 'GET', '/healthz')).status, 200);
});

t.test('a reload whose admin bind fails is rejected and changes nothing', async (t) => {
  const taken = net.createServer().listen(0, '127.0.0.1');
  await once(taken, 'listening');
  t.teardown(() => new Promise<void>((r) => taken.close(() => r())));
  const busy = (taken.address() as net.AddressInfo).port;
  const file = writeConfig(config());
  const lb = await startLb(t, config(), { configFile: file });
  const before = lb.admin.server!;
  writeFileSync(file, config('[pools.q]\nbackends = [{ address = "127.0.0.1:1" }]\n').replace('bind = "127.0.0.1:0"\n[listeners', `bind = "127.0.0.1:${busy}"\n[listeners`));
  const r = await lb.runtime.reload();
  t.equal(r.ok, false);
  t.match(r.ok ? '' : r.error, /127\.0\.0\.1:\d+/);
  t.equal(lb.admin.server, before, 'the old admin server stays');
  t.notOk(lb.runtime.pools.has('q'), 'the new pool was not added');
  t.equal((await request(before.port, 'GET', '/healthz')).status, 200);
});

t.test('a start whose admin bind fails closes the listeners it opened', async (t) => {
  const taken = net.createServer().listen(0, '127.0.0.1');
  await once(taken, 'listening');
  t.teardown(() => new Promise<void>((r) => taken.close(() => r())));
  const busy = (taken.address() as net.AddressInfo).port;
  const loaded = parseConfigText(config().replace('bind = "127.0.0.1:0"\n[listeners', `bind = "127.0.0.1:${busy}"\n[listeners`), 'test.toml');
  if (!loaded.ok) throw new Error('bad config');
  const runtime = new Runtime(loaded.config, new LogCapture().logger());
  const admin = new AdminService(runtime, runtime.log);
  runtime.attach(admin);
  await t.rejects(runtime.start(), { code: 'LB_BIND_FAILED', bind: `127.0.0.1:${busy}` });
  t.equal(runtime.listeners.size, 0, 'the listener that opened was closed');
  t.equal(admin.server, null);
});

t.test('lb_local_errors_total: one sample per errno seen, read at scrape time', async (t) => {
  const lb = await startLb(t, config());
  const admin = lb.admin.server!.port;
  const before = parseExposition((await request(admin, 'GET', '/metrics')).body);
  t.equal(before.types.get('lb_local_errors_total'), 'counter');
  const was = (code: string): number => localErrors.get(code) ?? 0;
  const [emfile, enobufs] = [was('EMFILE'), was('ENOBUFS')];
  countLocalError('EMFILE');
  countLocalError('EMFILE');
  countLocalError('ENOBUFS');
  const e = parseExposition((await request(admin, 'GET', '/metrics')).body);
  t.equal(value(e, 'lb_local_errors_total', { code: 'EMFILE' }), emfile + 2);
  t.equal(value(e, 'lb_local_errors_total', { code: 'ENOBUFS' }), enobufs + 1);
  t.same(e.samples.filter((x) => x.name === 'lb_local_errors_total').map((x) => x.labels['code']).sort(), [...localErrors.keys()].sort(), 'one sample per code seen');
});

t.test('drain finds a backend by any spelling of its address', async (t) => {
  // No traffic here: the backend only has to exist in the pool.
  const lb = await startLb(t, `[admin]
bind = "127.0.0.1:0"
[listeners.front]
bind = "127.0.0.1:0"
pool = "p"
[pools.p]
backends = [{ address = "[2001:db8::1]:5432" }]
`);
  const admin = lb.admin.server!.port;
  const r = await request(admin, 'POST', `/pools/p/backends/${encodeURIComponent('[2001:DB8:0:0:0:0:0:1]:5432')}/drain`);
  t.equal(r.status, 200);
  t.match(JSON.parse(r.body), { backend: '[2001:db8::1]:5432', state: 'draining' });
});

t.test('http listeners: request counters in /status and /metrics', async (t) => {
  const http = await import('node:http');
  const backend = http.createServer((_req, res) => res.end('hi'));
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  t.teardown(() => new Promise<void>((r) => backend.close(() => r())));
  const port = (backend.address() as net.AddressInfo).port;
  const lb = await startLb(t, `[admin]
bind = "127.0.0.1:0"
[listeners.web]
protocol = "http"
bind = "127.0.0.1:0"
pool = "w"
[pools.w]
backends = [{ address = "127.0.0.1:${port}" }]
`);
  for (let i = 0; i < 3; i++) {
    const r = await request(lb.port('web'), 'GET', `/x${i}`);
    t.equal(r.status, 200);
  }
  const admin = lb.admin.server!.port;
  const doc = JSON.parse((await request(admin, 'GET', '/status')).body) as StatusDoc;
  t.match(doc.listeners[0], { name: 'web', protocol: 'http', http: { requests_total: 3, active_requests: 0, rate_limited: 0 } });
  const e = parseExposition((await request(admin, 'GET', '/metrics')).body);
  t.equal(value(e, 'lb_http_requests_total', { listener: 'web' }), 3);
  t.equal(value(e, 'lb_http_active_requests', { listener: 'web' }), 0);
});
