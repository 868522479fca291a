// Header handling: hop-by-hop fields removed both ways (RFC 9110 §7.6.1, plus the fields
// Connection lists), X-Forwarded-For appended, X-Forwarded-Proto/-Host set, Forwarded
// appended with a quoted node (RFC 7239 §4, §6), repeated fields and case kept.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { startLb } from '../support/lb.js';
import { forwardedNode, requestHeaders, responseHeaders } from '../../src/http/hop-headers.js';
import { httpConfig, request, seen, startBackend } from './helpers.js';

const info = { clientIp: '192.0.2.7', clientPort: 4711, proto: 'http' };

t.test('requestHeaders table', async (t) => {
  const cases: { name: string; raw: string[]; want: string[]; opts?: { upgrade?: boolean; chunked?: boolean } }[] = [
    {
      name: 'plain request gets forwarding fields',
      raw: ['Host', 'a.example', 'Accept', '*/*'],
      want: ['Host', 'a.example', 'Accept', '*/*', 'X-Forwarded-For', '192.0.2.7', 'X-Forwarded-Proto', 'http', 'X-Forwarded-Host', 'a.example', 'Forwarded', 'for="192.0.2.7:4711";proto=http;host=a.example'],
    },
    {
      name: 'hop-by-hop and Connection-listed fields removed',
      raw: ['Host', 'h', 'Connection', 'keep-alive, X-Secret', 'X-Secret', 's', 'Keep-Alive', 'timeout=5', 'TE', 'trailers', 'Proxy-Connection', 'x', 'Proxy-Authorization', 'Basic x', 'Upgrade', 'h2c', 'Trailer', 'X', 'X-Kept', '1'],
      want: ['Host', 'h', 'X-Kept', '1', 'X-Forwarded-For', '192.0.2.7', 'X-Forwarded-Proto', 'http', 'X-Forwarded-Host', 'h', 'Forwarded', 'for="192.0.2.7:4711";proto=http;host=h'],
    },
    {
      name: 'earlier hops are appended to; spoofed proto/host replaced',
      raw: ['Host', 'h:8080', 'X-Forwarded-For', '10.0.0.1', 'x-forwarded-for', '10.0.0.2', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'evil', 'Forwarded', 'for=10.0.0.1'],
      want: ['Host', 'h:8080', 'X-Forwarded-For', '10.0.0.1, 10.0.0.2, 192.0.2.7', 'X-Forwarded-Proto', 'http', 'X-Forwarded-Host', 'h:8080', 'Forwarded', 'for=10.0.0.1, for="192.0.2.7:4711";proto=http;host="h:8080"'],
    },
    {
      name: 'no Host (HTTP/1.0): the backend address is sent',
      raw: ['Transfer-Encoding', 'chunked'],
      opts: { chunked: true },
      want: ['Host', '10.0.0.9:80', 'Transfer-Encoding', 'chunked', 'X-Forwarded-For', '192.0.2.7', 'X-Forwarded-Proto', 'http', 'Forwarded', 'for="192.0.2.7:4711";proto=http'],
    },
    {
      name: 'upgrade keeps Upgrade and sends Connection: Upgrade',
      raw: ['Host', 'h', 'Connection', 'Upgrade', 'Upgrade', 'websocket', 'Sec-WebSocket-Key', 'k'],
      opts: { upgrade: true },
      want: ['Host', 'h', 'Sec-WebSocket-Key', 'k', 'Connection', 'Upgrade', 'Upgrade', 'websocket', 'X-Forwarded-For', '192.0.2.7', 'X-Forwarded-Proto', 'http', 'X-Forwarded-Host', 'h', 'Forwarded', 'for="192.0.2.7:4711";proto=http;host=h'],
    },
  ];
  for (const c of cases) {
    t.same(requestHeaders(c.raw, info, { upgrade: false, chunked: false, fallbackHost: '10.0.0.9:80', ...c.opts }), c.want, c.name);
  }
  t.equal(forwardedNode('::1', 80), '"[::1]:80"');
  t.same(
    responseHeaders(['Set-Cookie', 'a', 'Connection', 'close, X-Hop', 'X-Hop', '1', 'Set-Cookie', 'b', 'Transfer-Encoding', 'chunked', 'Proxy-Authenticate', 'Basic', 'Keep-Alive', 'timeout=5']),
    ['Set-Cookie', 'a', 'Set-Cookie', 'b'],
  );
});

t.test('through the proxy, both directions', async (t) => {
  const backend = await startBackend(t, 'main', (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, [
        'Content-Type', 'application/json',
        'Connection', 'X-Hop-Resp',
        'X-Hop-Resp', 'gone',
        'Keep-Alive', 'timeout=99',
        'Proxy-Authenticate', 'Basic',
        'Set-Cookie', 'a=1',
        'Set-Cookie', 'b=2',
        'X-Backend', 'kept',
      ]);
      res.end(JSON.stringify({ rawHeaders: req.rawHeaders }));
    });
  });
  const lb = await startLb(t, httpConfig({ main: [backend.port] }));
  const a = await request(lb.port('web'), {
    path: '/p',
    headers: ['Host', 'App.Example:81', 'Connection', 'X-Hop-Req', 'X-Hop-Req', 'gone', 'Proxy-Authorization', 'Basic eA==', 'TE', 'trailers', 'X-Forwarded-For', '203.0.113.9', 'X-Client', 'kept'],
  });
  t.equal(a.status, 200);
  const raw = (JSON.parse(a.body.toString()) as { rawHeaders: string[] }).rawHeaders;
  const names = raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
  const get = (n: string): string[] => raw.flatMap((v, i) => (i % 2 === 0 && v.toLowerCase() === n ? [raw[i + 1]!] : []));
  for (const hop of ['x-hop-req', 'proxy-authorization', 'te']) t.notOk(names.includes(hop), `backend does not see ${hop}`);
  t.same(get('x-client'), ['kept']);
  t.same(get('host'), ['App.Example:81'], 'Host unchanged');
  t.match(get('x-forwarded-for'), [/^203\.0\.113\.9, 127\.0\.0\.1$/]);
  t.same(get('x-forwarded-proto'), ['http']);
  t.same(get('x-forwarded-host'), ['App.Example:81']);
  t.match(get('forwarded'), [/^for="127\.0\.0\.1:\d+";proto=http;host="App\.Example:81"$/]);
  t.notOk(a.headers['x-hop-resp'], 'client does not see a Connection-listed response field');
  t.notOk(a.headers['proxy-authenticate']);
  t.not(a.headers['keep-alive'], 'timeout=99', "the backend's Keep-Alive is not relayed");
  t.same(a.headers['set-cookie'], ['a=1', 'b=2'], 'repeated fields kept');
  t.equal(a.headers['x-backend'], 'kept');
});

t.test('IPv6 client: Forwarded quotes the bracketed node', async (t) => {
  const backend = await startBackend(t, 'main');
  const lb = await startLb(t, httpConfig({ main: [backend.port] }).replace('bind = "127.0.0.1:0"', 'bind = "[::1]:0"'));
  const a = await request(lb.port('web'), { host: '::1', headers: { host: 'v6.example' } });
  const s = seen(a);
  t.equal(s.headers['x-forwarded-for'], '::1');
  t.match(s.headers['forwarded'], /^for="\[::1\]:\d+";proto=http;host=v6\.example$/);
  t.match(lb.logs.matching({ msg: 'request' })[0], { client: /^\[::1\]:\d+$/ });
});

t.test('HTTP/1.0 without Host, chunked request body re-framed', async (t) => {
  const backend = await startBackend(t, 'main', (req, res) => {
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => res.end(JSON.stringify({ n, host: req.headers.host, te: req.headers['transfer-encoding'] ?? null })));
  });
  const lb = await startLb(t, httpConfig({ main: [backend.port] }));
  const port = lb.port('web');
  // HTTP/1.0 has no Host requirement; lb sends the backend's address.
  const c = net.connect(port, '127.0.0.1');
  c.write('GET /old HTTP/1.0\r\n\r\n'); // no FIN: node:http aborts a request whose client half-closes
  let text = '';
  c.setEncoding('utf8').on('data', (d: string) => (text += d));
  await once(c, 'close');
  t.match(text, /^HTTP\/1\.[01] 200/);
  t.match(text, new RegExp(`"host":"127\\.0\\.0\\.1:${backend.port}"`));
  const a = await request(port, { method: 'POST', headers: { 'transfer-encoding': 'chunked' }, body: 'x'.repeat(10000) });
  t.same(JSON.parse(a.body.toString()), { n: 10000, host: `127.0.0.1:${port}`, te: 'chunked' });
});
