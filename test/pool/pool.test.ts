// Pool behaviour with real sessions: on_down = keep vs close (spread over about a second),
// draining through the runtime operation the admin API will call, and passive failures that
// are lb's own (a local error) never counting against a backend.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { echoServer, startServer, connect, collect, deadPort, type TestServer } from '../support/backends.js';
import { startLb, simpleConfig } from '../support/lb.js';

/** A backend whose health probe port can be switched off independently of its data port. */
async function healthSwitch(): Promise<TestServer> {
  return startServer((s) => s.end());
}

async function openSessions(port: number, n: number): Promise<net.Socket[]> {
  const out: net.Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = await connect(port, '127.0.0.1', false);
    s.write('x');
    await once(s, 'data');
    out.push(s);
  }
  return out;
}

for (const onDown of ['keep', 'close'] as const) {
  t.test(`on_down = "${onDown}"`, async (t) => {
    const echo = await echoServer();
    const sw = await healthSwitch();
    t.teardown(() => Promise.all([echo.close(), sw.close()]));
    const health = `[pools.p.health]\ninterval = "30ms"\ntimeout = "200ms"\nrise = 1\nfall = 1\nport = ${sw.port}\n`;
    const lb = await startLb(t, simpleConfig([echo.port], { pool: `on_down = "${onDown}"` }) + health);
    await lb.logs.waitFor({ msg: 'backend up' });
    const sessions = await openSessions(lb.port('front'), 20);
    const closed = sessions.map((s) => collect(s));
    await sw.close();
    await lb.logs.waitFor({ msg: 'backend down' });
    if (onDown === 'keep') {
      // Established sessions are left alone.
      for (const s of sessions) {
        s.write('y');
        const [d] = (await once(s, 'data')) as [Buffer];
        t.equal(d.toString(), 'y');
      }
      for (const s of sessions) s.end();
      await Promise.all(closed);
      const ends = await lb.logs.waitForCount({ msg: 'session ended' }, 20);
      t.same(new Set(ends.map((e) => e.end)), new Set(['client_closed']));
    } else {
      await Promise.all(closed);
      const ends = await lb.logs.waitForCount({ msg: 'session ended' }, 20);
      t.same(new Set(ends.map((e) => `${e.end}/${e.detail}`)), new Set(['backend_closed/backend_down']));
      const times = ends.map((e) => e.time as number);
      const spread = Math.max(...times) - Math.min(...times);
      t.ok(spread >= 500, `closes spread over ${spread} ms, not all at once`);
      t.comment(`on_down=close: 20 sessions closed over ${spread} ms`);
    }
  });
}

t.test('drain through the runtime: no new sessions, the open one continues; enable restores', async (t) => {
  const [a, b] = await Promise.all([echoServer(), echoServer()]);
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const lb = await startLb(t, simpleConfig([a.port, b.port]));
  const pool = lb.runtime.pools.get('p')!;
  const keyA = `127.0.0.1:${a.port}`;
  // Open sessions until one lands on A.
  const open: net.Socket[] = [];
  while (pool.get(keyA)!.active === 0) open.push(...(await openSessions(lb.port('front'), 1)));
  t.ok(pool.drainBackend(keyA));
  t.equal(pool.get(keyA)!.state, 'draining');
  await lb.logs.waitFor({ msg: 'backend draining', backend: keyA });
  const acceptedBefore = a.accepted;
  const more = await openSessions(lb.port('front'), 6);
  t.equal(a.accepted, acceptedBefore, 'no new connection reached the draining backend');
  for (const s of open) {
    s.write('still');
    const [d] = (await once(s, 'data')) as [Buffer];
    t.equal(d.toString(), 'still');
  }
  t.ok(pool.enableBackend(keyA));
  t.equal(pool.get(keyA)!.state, 'up');
  const after = await openSessions(lb.port('front'), 4);
  t.ok(a.accepted > acceptedBefore, 'enabled backend takes new sessions again');
  for (const s of [...open, ...more, ...after]) s.destroy();
  t.equal(pool.drainBackend('10.9.9.9:1'), undefined, 'unknown backend');
});

t.test('a session whose connect was in flight when its backend started draining still ends at the deadline', async (t) => {
  // The backend accepts in the kernel but lb's connect completes only after drainBackend():
  // drain is called synchronously right after the client connects, before lb's dial finishes.
  const echo = await echoServer();
  t.teardown(() => echo.close());
  const lb = await startLb(t, simpleConfig([echo.port]).replace('drain_timeout = "1s"', 'drain_timeout = "200ms"'));
  const pool = lb.runtime.pools.get('p')!;
  const key = `127.0.0.1:${echo.port}`;
  const s = await connect(lb.port('front'), '127.0.0.1', false);
  const got = collect(s);
  pool.drainBackend(key);
  s.write('x');
  await once(s, 'data');
  t.equal(pool.get(key)!.active, 1, 'the in-flight session was established on the draining backend');
  await got;
  const line = await lb.logs.waitFor({ msg: 'session ended' });
  t.equal(line.end, 'drained', 'closed by the drain deadline, not left running');
});

/** The errno of a real failed connect. */
function connectError(opts: net.NetConnectOpts): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(opts);
    s.on('connect', () => {
      s.destroy();
      reject(new Error('connected'));
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

t.test('reportConnectFailure ignores local errors: no failure count, no passive health failure', async (t) => {
  const echo = await echoServer();
  const sw = await healthSwitch();
  t.teardown(() => Promise.all([echo.close(), sw.close()]));
  // fall = 1: any counted passive failure takes the backend down at once.
  const health = `[pools.p.health]\ninterval = "1h"\ntimeout = "200ms"\nrise = 1\nfall = 1\nport = ${sw.port}\n`;
  const lb = await startLb(t, simpleConfig([echo.port]) + health);
  await lb.logs.waitFor({ msg: 'backend up' });
  const pool = lb.runtime.pools.get('p')!;
  const b = pool.backends[0]!;
  // A real EADDRNOTAVAIL: bind to a local address this host does not have (TEST-NET-1).
  const local = await connectError({ host: '127.0.0.1', port: echo.port, localAddress: '192.0.2.1' });
  t.equal(local, 'EADDRNOTAVAIL');
  pool.reportConnectFailure(b, local);
  pool.reportConnectFailure(b, 'EMFILE');
  t.equal(b.connectFailures, 0, 'not a connect failure of the backend');
  t.equal(b.state, 'up', 'health unchanged');
  t.equal(b.checksFailed, 0);
  t.equal(lb.logs.matching({ msg: 'backend down' }).length, 0);
  // The same path with the backend's own failure does count.
  const refused = await connectError({ host: '127.0.0.1', port: await deadPort() });
  t.equal(refused, 'ECONNREFUSED');
  pool.reportConnectFailure(b, refused);
  t.equal(b.connectFailures, 1);
  t.equal(b.state, 'down', 'a counted passive failure with fall = 1');
  t.match((await lb.logs.waitFor({ msg: 'backend down' })).why, /connect failed while proxying: ECONNREFUSED/);
});
