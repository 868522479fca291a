// Routing table cases through a real http listener: host exact and "*.suffix" (port and case
// ignored), path_prefix, both together, first match wins, no match → the listener's pool.
import t from 'tap';
import { startLb } from '../support/lb.js';
import { Router, hostName, targetPath } from '../../src/http/router.js';
import { httpConfig, request, seen, startBackend } from './helpers.js';

t.test('routes in order, first match wins, else the listener pool', async (t) => {
  const names = ['main', 'api', 'wild', 'v2', 'apiv1'] as const;
  const backends = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await startBackend(t, n)] as const)));
  const pools = Object.fromEntries(names.map((n) => [n, [backends[n]!.port]]));
  const routes = `
[[listeners.web.routes]]
host = "api.example.com"
path_prefix = "/v1/"
pool = "apiv1"

[[listeners.web.routes]]
host = "api.example.com"
pool = "api"

[[listeners.web.routes]]
host = "*.example.com"
pool = "wild"

[[listeners.web.routes]]
path_prefix = "/v2/"
pool = "v2"
`;
  const lb = await startLb(t, httpConfig(pools, { routes }));
  const port = lb.port('web');
  const cases: { host: string; path: string; want: string }[] = [
    { host: 'api.example.com', path: '/v1/users', want: 'apiv1' },
    { host: 'API.Example.COM:8080', path: '/v1/x', want: 'apiv1' },
    { host: 'api.example.com', path: '/v1', want: 'api' },
    { host: 'api.example.com', path: '/v2/x', want: 'api' },
    { host: 'www.example.com', path: '/', want: 'wild' },
    { host: 'a.b.example.com:443', path: '/v2/', want: 'wild' },
    { host: 'example.com', path: '/v2/x', want: 'v2' },
    { host: 'other.org', path: '/v2/deep/path?q=1', want: 'v2' },
    { host: 'other.org', path: '/v3/', want: 'main' },
    { host: 'example.com', path: '/', want: 'main' },
    { host: 'notexample.com', path: '/', want: 'main' },
  ];
  for (const c of cases) {
    const a = await request(port, { path: c.path, headers: { host: c.host } });
    t.equal(a.status, 200, `${c.host}${c.path} status`);
    const s = seen(a);
    t.equal(s.backend, c.want, `${c.host}${c.path} → ${c.want}`);
    t.equal(s.url, c.path, 'path passed unchanged');
  }
  const lines = lb.logs.matching({ msg: 'request', listener: 'web' });
  t.equal(lines.length, cases.length, 'one access line per request');
  t.match(lines[0], { method: 'GET', host: 'api.example.com', path: '/v1/users', status: 200, end: 'complete', client: /^127\.0\.0\.1:\d+$/, backend: `127.0.0.1:${backends.apiv1!.port}` });
  t.type(lines[0]!.duration_ms, 'number');
  t.ok((lines[0]!.bytes_in as number) > 0 && (lines[0]!.bytes_out as number) > 0, 'byte counts');
});

t.test('host and target parsing', async (t) => {
  t.equal(hostName('Api.Example.com:8080'), 'api.example.com');
  t.equal(hostName('[::1]:80'), '[::1]');
  t.equal(hostName('example.com.'), 'example.com');
  t.equal(hostName('example.com'), 'example.com');
  t.equal(targetPath('/a/b?c'), '/a/b?c');
  t.equal(targetPath('http://h.example/x/y'), '/x/y');
  t.equal(targetPath('http://h.example'), '/');
  t.equal(targetPath('*'), '*');
  t.throws(() => new Router([{ pool: 'nope' }], new Map(), null as never));
});
