// Bodies stream both ways through the proxy byte-exact (50 MB each way, sha256), and
// upstream connections are kept alive and reused across requests and clients.
import t from 'tap';
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { startLb } from '../support/lb.js';
import { httpConfig, request, startBackend } from './helpers.js';

const SIZE = 50 * 1024 * 1024;

t.test('50 MB upload and 50 MB download, byte-exact', { timeout: 20_000 }, async (t) => {
  const payload = randomBytes(SIZE);
  const want = createHash('sha256').update(payload).digest('hex');
  const backend = await startBackend(t, 'main', (req, res) => {
    if (req.method === 'POST') {
      const h = createHash('sha256');
      let n = 0;
      req.on('data', (d: Buffer) => {
        n += d.length;
        h.update(d);
      });
      req.on('end', () => res.end(JSON.stringify({ n, sha: h.digest('hex') })));
      return;
    }
    res.writeHead(200, { 'content-length': SIZE });
    // Stream in 64 KiB slices so the proxy sees many chunks and backpressure.
    void pipeline(Readable.from(slices(payload, 64 * 1024)), res);
  });
  const lb = await startLb(t, httpConfig({ main: [backend.port] }));
  const port = lb.port('web');

  const up = await new Promise<string>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/up', agent: false, headers: { 'content-length': SIZE } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    void pipeline(Readable.from(slices(payload, 256 * 1024)), req);
  });
  t.same(JSON.parse(up), { n: SIZE, sha: want }, 'upload byte-exact');

  const down = await new Promise<{ n: number; sha: string }>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/down', agent: false }, (res) => {
      const h = createHash('sha256');
      let n = 0;
      res.on('data', (d: Buffer) => {
        n += d.length;
        h.update(d);
      });
      res.on('end', () => resolve({ n, sha: h.digest('hex') }));
      res.on('error', reject);
    }).on('error', reject);
  });
  t.same(down, { n: SIZE, sha: want }, 'download byte-exact');

  const lines = lb.logs.matching({ msg: 'request', end: 'complete' });
  t.equal(lines.length, 2);
  t.ok((lines[0]!.bytes_in as number) > SIZE, 'upload counted as bytes_in');
  t.ok((lines[1]!.bytes_out as number) > SIZE, 'download counted as bytes_out');
});

t.test('keep-alive: the backend sees few connections for many requests', async (t) => {
  const backend = await startBackend(t, 'main');
  const lb = await startLb(t, httpConfig({ main: [backend.port] }));
  const port = lb.port('web');
  for (let i = 0; i < 50; i++) t.equal((await request(port, { path: `/seq/${i}` })).status, 200);
  t.equal(backend.connections, 1, '50 sequential requests (each on a new client connection) use one upstream connection');

  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  t.teardown(() => agent.destroy());
  const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => request(port, { path: `/par/${i}`, agent })));
  t.ok(answers.every((a) => a.status === 200), '200 concurrent requests answered');
  t.equal(backend.requests, 250);
  t.ok(backend.connections <= 5, `at most 4 more upstream connections for 4 concurrent clients (got ${backend.connections})`);
});

function* slices(b: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}
