// The prober against real loopback peers: rise/fall on a backend that stops and starts
// listening, send/expect against a protocol server that answers right, wrong, late or not at
// all, passive failures, probes that fail on lb's own descriptors (a child process under
// ulimit -n), and no leaked handles once a prober stops.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startServer, connect, collect, deadPort } from '../support/backends.js';
import { startLb, simpleConfig } from '../support/lb.js';
import { tcpProbe } from '../../src/health/probe.js';
import { Pool } from '../../src/pool/pool.js';
import { Prober } from '../../src/health/prober.js';
import { parseConfigText } from '../../src/config/load.js';
import { LogCapture } from '../support/log-capture.js';

const fast = '[pools.p.health]\ninterval = "40ms"\ntimeout = "200ms"\nrise = 2\nfall = 2\n';

t.test('backend starts down, rises after `rise` passes, falls when it stops listening, rises again', async (t) => {
  // A backend we can stop and restart on the same port.
  const srv = await startServer((s) => s.end());
  const port = srv.port;
  const lb = await startLb(t, simpleConfig([port]) + fast);
  const pool = lb.runtime.pools.get('p')!;
  const b = pool.backends[0]!;
  t.equal(b.state, 'down', 'a backend with a health check starts down');
  await lb.logs.waitFor({ msg: 'backend up', backend: `127.0.0.1:${port}` });
  t.equal(b.state, 'up');
  t.ok(b.checksPassed >= 2, `${b.checksPassed} passes before up`);
  await srv.close();
  const down = await lb.logs.waitFor({ msg: 'backend down' });
  t.equal(down.level, 40, 'down is logged at warn');
  t.equal(down.why, 'ECONNREFUSED');
  t.equal(b.state, 'down');
  // Listen again on the same port: it comes back.
  const again = net.createServer((s) => s.end()).listen(port, '127.0.0.1');
  await once(again, 'listening');
  t.teardown(() => again.close());
  await lb.logs.waitForCount({ msg: 'backend up' }, 2);
  t.equal(b.state, 'up');
});

t.test('every backend down: new clients are closed promptly as no_backend', async (t) => {
  const port = await deadPort();
  const lb = await startLb(t, simpleConfig([port]) + fast);
  // lb resets a client it has no backend for; the reset may even beat the client's own
  // 'connect' event (then connect fails with ECONNRESET). Either way the socket closes.
  const s = net.connect({ port: lb.port('front'), host: '127.0.0.1' });
  await new Promise<void>((resolve) => {
    s.on('error', () => {});
    s.on('close', () => resolve());
  });
  const line = await lb.logs.waitFor({ msg: 'session ended' });
  t.equal(line.end, 'no_backend');
});

t.test('send/expect: a real protocol check', async (t) => {
  // A tiny Redis-like server whose behaviour each case picks.
  const behaviours: Record<string, (s: net.Socket) => void> = {
    right: (s) => s.once('data', () => s.write('+PONG\r\n')),
    wrong: (s) => s.once('data', () => s.write('-ERR no\r\n')),
    silent: () => {},
    late: (s) => s.once('data', () => setTimeout(() => s.write('+PONG\r\n'), 400)),
    split: (s) => s.once('data', () => { s.write('+PO'); setTimeout(() => s.write('NG\r\n'), 20); }),
    closes: (s) => s.once('data', () => s.end()),
  };
  const want: Record<string, [boolean, RegExp]> = {
    right: [true, /^ok$/],
    wrong: [false, /^unexpected reply: "-ERR/],
    silent: [false, /^timeout$/],
    late: [false, /^timeout$/],
    split: [true, /^ok$/],
    closes: [false, /^closed without reply$/],
  };
  for (const [name, fn] of Object.entries(behaviours)) {
    const srv = await startServer(fn);
    const r = await tcpProbe({ host: '127.0.0.1', port: srv.port, timeoutMs: 200, send: Buffer.from('PING\r\n'), expect: Buffer.from('+PONG') });
    t.equal(r.ok, want[name]![0], `${name}: ok=${r.ok}`);
    t.match(r.detail, want[name]![1], `${name}: ${r.detail}`);
    await srv.close();
  }
  const refused = await tcpProbe({ host: '127.0.0.1', port: await deadPort(), timeoutMs: 200, send: Buffer.alloc(0), expect: Buffer.alloc(0) });
  t.same([refused.ok, refused.detail], [false, 'ECONNREFUSED']);
});

t.test('send/expect through the pool: a backend answering wrong never comes up', async (t) => {
  const good = await startServer((s) => s.once('data', () => s.write('+PONG\r\n')));
  const bad = await startServer((s) => s.once('data', () => s.write('-LOADING\r\n')));
  t.teardown(() => Promise.all([good.close(), bad.close()]));
  const lb = await startLb(t, simpleConfig([good.port, bad.port]) + fast + 'send = "PING\\r\\n"\nexpect = "+PONG"\n');
  await lb.logs.waitFor({ msg: 'backend up', backend: `127.0.0.1:${good.port}` });
  const badB = lb.runtime.pools.get('p')!.get(`127.0.0.1:${bad.port}`)!;
  // After several failed checks the bad backend is still down.
  await lb.logs.waitForCount({ msg: 'health check', backend: `127.0.0.1:${bad.port}`, ok: false }, 4);
  t.equal(badB.state, 'down');
  t.match(badB.lastCheck?.detail, /unexpected reply/);
});

t.test('a failed connect while proxying counts against the backend at once', async (t) => {
  // Health probes a port that always passes; traffic goes to the backend port, which refuses.
  const probeTarget = await startServer((s) => s.end());
  t.teardown(() => probeTarget.close());
  const dead = await deadPort();
  const health = `[pools.p.health]\ninterval = "1h"\ntimeout = "200ms"\nrise = 1\nfall = 1\nport = ${probeTarget.port}\n`;
  const lb = await startLb(t, simpleConfig([dead]) + health);
  await lb.logs.waitFor({ msg: 'backend up' });
  const s = await connect(lb.port('front'), '127.0.0.1', false);
  await collect(s);
  const down = await lb.logs.waitFor({ msg: 'backend down' });
  t.match(down.why, /connect failed while proxying: ECONNREFUSED/);
  t.equal((await lb.logs.waitFor({ msg: 'session ended' })).end, 'connect_failed');
});

t.test('a probe that fails on lb\'s own descriptors (EMFILE) counts neither way', async (t) => {
  const srv = await startServer((s) => s.end());
  t.teardown(() => srv.close());
  // The child takes every descriptor below its limit, then probes; the loader is tap's
  // TypeScript import hook (the child runs the .ts helper directly).
  const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript'));
  const env = { ...process.env };
  delete env['NODE_OPTIONS'];
  const child = spawn(
    '/bin/sh',
    ['-c', 'ulimit -n 256 && exec "$0" "$@"', process.execPath, ...loader, fileURLToPath(new URL('./fixtures/local-error-child.ts', import.meta.url)), String(srv.port)],
    { stdio: ['ignore', 'pipe', 'pipe'], env },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [code] = (await once(child, 'exit')) as [number | null];
  t.equal(code, 0, stderr);
  type Snap = { state: string; passed: number; failed: number; lastCheck: { ok: boolean; result: string; detail: string } };
  type Result = { ok: boolean; detail: string; localError?: boolean };
  const out = JSON.parse(stdout) as {
    fill: string;
    first: Snap & { result: Result };
    local: Snap & { results: Result[]; warnsAtSameTime: number; warns: Array<Record<string, unknown>>; counted: number; connectFailures: number };
    tcpProbe: Result;
    udpProbe: Result;
    after: Snap & { result: Result; upLines: number };
    whileUp: Snap & { results: Result[]; downLines: number };
  };
  t.equal(out.fill, 'EMFILE', 'the child ran out of descriptors');
  t.match(out.first, { result: { ok: true }, state: 'down', passed: 1 }, 'one pass of rise = 2 before');

  t.same(out.local.results.map((r) => [r.ok, r.detail, r.localError]), Array(4).fill([false, 'EMFILE', true]), 'probes fail with EMFILE, marked local');
  t.match(out.local, { state: 'down', passed: 1, failed: 0 }, 'no pass, no failure counted');
  t.match(out.local.lastCheck, { ok: false, result: 'local_error', detail: 'EMFILE' }, 'the last check says local_error');
  t.equal(out.local.counted, 4, 'each local error counted (lb_local_errors_total)');
  t.equal(out.local.warnsAtSameTime, 1, 'one warning for three local errors within the same second');
  t.equal(out.local.warns.length, 2, 'and a second one a second later');
  t.match(out.local.warns[0], { level: 40, pool: 'p', code: 'EMFILE', local_errors: 1 });
  t.match(out.local.warns[1], { level: 40, pool: 'p', code: 'EMFILE', local_errors: 3 });
  t.equal(out.local.connectFailures, 0, 'a passive EMFILE is not a connect failure of the backend');

  t.match(out.tcpProbe, { ok: false, detail: 'EMFILE', localError: true }, 'tcpProbe classifies EMFILE as local');
  t.match(out.udpProbe, { ok: false, detail: 'EMFILE', localError: true }, 'udpProbe classifies EMFILE as local');

  t.match(out.after, { result: { ok: true }, state: 'up', passed: 2, failed: 0, upLines: 1 }, 'the next pass completes rise: the run before the local errors was kept');
  t.same(out.whileUp.results.map((r) => r.localError), [true, true]);
  t.match(out.whileUp, { state: 'up', failed: 0, downLines: 0 }, 'with fall = 1, local errors while up do not take it down');
});

t.test('a stopped prober leaves no probe timers or sockets behind', async (t) => {
  const srv = await startServer((s) => s.end());
  t.teardown(() => srv.close());
  const loaded = parseConfigText(simpleConfig([srv.port, await deadPort()]) + fast, 'x.toml');
  if (!loaded.ok) throw new Error('bad config');
  const count = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'TCPSocketWrap').length;
  const before = count();
  const logs = new LogCapture();
  const pool = new Pool(loaded.config.pools[0]!, logs.logger(), 1000);
  const prober = new Prober(loaded.config.pools[0]!.health!, pool);
  prober.sync();
  await logs.waitFor({ msg: 'backend up' });
  t.ok(count() > before, 'probing holds timers while running');
  prober.stop();
  pool.stop();
  // In-flight probes are aborted by stop(); their sockets close within a turn or two.
  for (let i = 0; i < 5 && count() !== before; i++) await new Promise((r) => setImmediate(r));
  t.equal(count(), before, 'every timer and socket released');
});
