// The prober against real loopback peers: rise/fall on a backend that stops and starts
// listening, send/expect against a protocol server that answers right, wrong, late or not at
// all, passive failures, and no leaked handles once a prober stops.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
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
  const s = await connect(lb.port('front'), '127.0.0.1', false);
  await collect(s);
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
