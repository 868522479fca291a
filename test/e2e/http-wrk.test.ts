// A real load generator (wrk) through `bin/lb run` with an http listener and two node:http
// backends: zero socket errors and zero non-2xx answers. Skipped when wrk is not installed.
import t from 'tap';
import http from 'node:http';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { spawnLb, writeConfig } from '../support/lb-process.js';

const WRK = '/usr/bin/wrk';
const haveWrk = spawnSync(WRK, ['--version'], { stdio: 'ignore' }).error === undefined;

t.test('wrk through an http listener: no errors', { skip: haveWrk ? false : 'wrk not installed', timeout: 20_000 }, async (t) => {
  const counts = [0, 0];
  const ports: number[] = [];
  for (const i of [0, 1]) {
    const s = http.createServer((req, res) => {
      counts[i]!++;
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 6 });
      res.end(`hello${i}`);
    });
    s.listen(0, '127.0.0.1');
    await once(s, 'listening');
    ports.push((s.address() as { port: number }).port);
    t.teardown(() => {
      s.closeAllConnections();
      s.close();
    });
  }
  // log_level info: the 'listening' line names the OS-chosen port; one access line per request.
  const file = writeConfig(`[global]
drain_timeout = "1s"

[listeners.web]
protocol = "http"
bind = "127.0.0.1:0"
pool = "p"

[pools.p]
algorithm = "least-connections"
backends = [{ address = "127.0.0.1:${ports[0]}" }, { address = "127.0.0.1:${ports[1]}" }]
`);
  const lb = spawnLb(t, ['run', '-c', file]);
  const port = await lb.port('web');
  const wrk = spawn(WRK, ['-t', '2', '-c', '32', '-d', '2s', '--latency', `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  wrk.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const [code] = (await once(wrk, 'exit')) as [number];
  t.equal(code, 0, 'wrk exited 0');
  t.comment(out.trim().split('\n').filter((l) => /Requests\/sec|requests in|50%|99%/.test(l)).join('\n'));
  const total = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  t.ok(total > 0, `wrk completed requests (${total}); a throughput floor would be flaky on a shared box`);
  t.notMatch(out, /Socket errors/, 'no socket errors (connect, read, write, timeout)');
  t.notMatch(out, /Non-2xx/, 'no non-2xx answers');
  t.ok(counts[0]! > 0 && counts[1]! > 0, `both backends served (${counts[0]}, ${counts[1]})`);
  // wrk stops counting at -d; requests in flight then still reach a backend.
  t.ok(counts[0]! + counts[1]! >= total, 'every counted request was answered by a backend');
  lb.child.kill('SIGTERM');
  t.equal(await lb.exited, 0, 'graceful stop');
  t.same(lb.logs.matching({ msg: 'request' }).filter((l) => l.status !== 200 && l.end !== 'client_closed'), [], 'no request failed in the access log');
});
