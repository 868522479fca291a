// Reload on a running runtime (the same path SIGHUP takes): sockets kept, nothing refused
// under load, invalid files and failed binds change nothing, removed backends drain, health
// survives. The runtime reads the file like `lb run` does.
import t, { type Test } from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { echoServer, connect, collect, startServer, deadPort, type TestServer } from '../support/backends.js';
import { startLb, type TestLb } from '../support/lb.js';
import { writeConfig } from '../support/lb-process.js';
import { randomPayload, sha256 } from '../support/random.js';
import type { TcpListener } from '../../src/listeners/tcp/tcp-listener.js';

function config(backends: Array<{ port: number; weight?: number }>, opts: { algorithm?: string; drain?: string; extra?: string; health?: string } = {}): string {
  return `[global]
drain_timeout = "${opts.drain ?? '30s'}"
[listeners.front]
bind = "127.0.0.1:0"
pool = "p"
${opts.extra ?? ''}
[pools.p]
algorithm = "${opts.algorithm ?? 'round-robin'}"
backends = [
${backends.map((b) => `  { address = "127.0.0.1:${b.port}", weight = ${b.weight ?? 1} },`).join('\n')}
]
${opts.health ?? ''}`;
}

async function startFromFile(t: Test, text: string): Promise<{ lb: TestLb; file: string; write(text: string): void }> {
  const file = writeConfig(text);
  const lb = await startLb(t, text);
  return { lb, file, write: (s: string) => writeFileSync(file, s) };
}

/** One short exchange; true when the echo came back intact. */
async function exchange(port: number, i: number): Promise<boolean> {
  const s = net.connect({ port, host: '127.0.0.1' });
  s.on('error', () => {});
  const got = collect(s);
  const msg = `ping-${i}`;
  s.end(msg);
  return (await got).data.toString() === msg;
}

let a: TestServer, b: TestServer, c: TestServer;
t.before(async () => {
  [a, b, c] = await Promise.all([echoServer(), echoServer(), echoServer()]);
});
t.teardown(() => Promise.all([a.close(), b.close(), c.close()]));

t.test('20 reloads under load: zero failed connections, a long stream intact, socket kept', async (t) => {
  const { lb, file, write } = await startFromFile(t, config([{ port: a.port }, { port: b.port }]));
  const port = lb.port('front');
  const listener = lb.runtime.listeners.get('front');
  // One long byte-exact stream through the whole run.
  const payload = randomPayload(8 * 1024 * 1024);
  const stream = await connect(port);
  const streamGot = collect(stream);
  let offset = 0;
  const feed = (): void => {
    // Write in slices so the stream spans the reloads.
    const next = Math.min(offset + 256 * 1024, payload.length);
    stream.write(payload.subarray(offset, next));
    offset = next;
  };
  // A bounded loop of short connections, running until the reloads are done.
  let running = true;
  let ok = 0;
  let failed = 0;
  const loop = (async () => {
    for (let i = 0; running && i < 100_000; i++) {
      if (await exchange(port, i)) ok++;
      else failed++;
    }
  })();
  const sets = [
    config([{ port: a.port }, { port: b.port }, { port: c.port }]),
    config([{ port: b.port, weight: 3 }, { port: c.port }], { algorithm: 'least-connections' }),
    config([{ port: a.port, weight: 2 }, { port: c.port }], { algorithm: 'consistent-hash' }),
    config([{ port: a.port }, { port: b.port }], { algorithm: 'power-of-two' }),
    config([{ port: c.port, weight: 5 }, { port: a.port }, { port: b.port }]),
  ];
  for (let r = 0; r < 20; r++) {
    write(sets[r % sets.length]!);
    const result = await lb.runtime.reload(file);
    t.equal(result.ok, true, `reload ${r} applied`);
    feed();
    // Let some short connections run against this config before the next reload.
    const target = ok + failed + 5;
    while (ok + failed < target) await new Promise((r2) => setImmediate(r2));
  }
  running = false;
  await loop;
  while (offset < payload.length) feed();
  stream.end();
  const { data } = await streamGot;
  t.equal(failed, 0, `${ok} short connections, ${failed} failed`);
  t.ok(ok >= 100, `${ok} short connections ran during the reloads`);
  t.equal(data.length, payload.length, 'long stream: same length');
  t.equal(sha256(data), sha256(payload), 'long stream: same bytes');
  t.equal(lb.port('front'), port, 'same port');
  t.equal(lb.runtime.listeners.get('front'), listener, 'same listener object: the socket was kept');
  t.equal(lb.logs.matching({ msg: 'reload applied' }).length, 20);
});

t.test('an invalid file changes nothing', async (t) => {
  const { lb, file, write } = await startFromFile(t, config([{ port: a.port }]));
  const before = lb.runtime.config;
  write(config([{ port: a.port }]).replace('algorithm = "round-robin"', 'algorithm = "fastest"') + '\nbogus = 1\n');
  const r = await lb.runtime.reload(file);
  t.equal(r.ok, false);
  if (!r.ok) t.equal(r.problems.length, 2, 'every problem reported');
  t.equal(lb.runtime.config, before, 'config object unchanged');
  const problems = lb.logs.matching({ msg: 'config problem' });
  t.equal(problems.length, 2);
  t.ok(problems.every((p) => p.level === 50), 'problems logged at error');
  t.match(problems.map((p) => p.problem).join('\n'), /pools\.p\.algorithm/);
  await lb.logs.waitFor({ msg: 'reload rejected; the running config is unchanged' });
  t.equal(await exchange(lb.port('front'), 1), true, 'still serving');
});

t.test('a reload whose new bind fails leaves the old config fully in place', async (t) => {
  const taken = await startServer(() => {});
  t.teardown(() => taken.close());
  const { lb, file, write } = await startFromFile(t, config([{ port: a.port }]));
  const before = lb.runtime.config;
  write(config([{ port: b.port }], { extra: '' }) + `\n[listeners.second]\nbind = "127.0.0.1:${taken.port}"\npool = "p"\n`);
  const r = await lb.runtime.reload(file);
  t.equal(r.ok, false);
  if (!r.ok) t.match(r.error, /cannot bind 127\.0\.0\.1:\d+: EADDRINUSE/);
  t.equal(lb.runtime.config, before);
  t.equal(lb.runtime.listeners.size, 1);
  t.same(lb.runtime.pools.get('p')!.backends.map((x) => x.key), [`127.0.0.1:${a.port}`], 'pool untouched');
  t.equal(await exchange(lb.port('front'), 2), true);
});

t.test('a removed backend drains: open session continues, then is closed at drain_timeout', async (t) => {
  const { lb, file, write } = await startFromFile(t, config([{ port: a.port }], { drain: '300ms' }));
  const s = await connect(lb.port('front'), '127.0.0.1', false);
  const got = collect(s);
  s.write('one');
  await once(s, 'data');
  write(config([{ port: b.port }], { drain: '300ms' }));
  t.equal((await lb.runtime.reload(file)).ok, true);
  const draining = await lb.logs.waitFor({ msg: 'backend draining' });
  t.equal(draining.backend, `127.0.0.1:${a.port}`);
  s.write('two');
  const [d] = (await once(s, 'data')) as [Buffer];
  t.equal(d.toString(), 'two', 'the open session still works while draining');
  t.equal(await exchange(lb.port('front'), 3), true, 'new clients go to the new backend');
  await got;
  const ended = await lb.logs.waitFor({ msg: 'session ended', backend: `127.0.0.1:${a.port}` });
  t.equal(ended.end, 'drained');
  t.ok((ended.duration_ms as number) >= 290);
  await lb.logs.waitFor({ msg: 'backend removed', backend: `127.0.0.1:${a.port}` });
  t.same(lb.runtime.pools.get('p')!.backends.map((x) => x.key), [`127.0.0.1:${b.port}`]);
});

t.test('health state and counters survive a reload; weights change without a flap', async (t) => {
  const health = '[pools.p.health]\ninterval = "50ms"\ntimeout = "200ms"\nrise = 2\nfall = 2\n';
  const { lb, file, write } = await startFromFile(t, config([{ port: a.port }, { port: b.port }], { health }));
  await lb.logs.waitForCount({ msg: 'backend up' }, 2);
  t.equal(await exchange(lb.port('front'), 4), true);
  const pool = lb.runtime.pools.get('p')!;
  const backendA = pool.get(`127.0.0.1:${a.port}`)!;
  const totalBefore = backendA.total + pool.get(`127.0.0.1:${b.port}`)!.total;
  write(config([{ port: a.port, weight: 5 }, { port: b.port }, { port: c.port }], { health, algorithm: 'least-connections' }));
  t.equal((await lb.runtime.reload(file)).ok, true);
  t.equal(pool.get(`127.0.0.1:${a.port}`), backendA, 'same backend object');
  t.equal(backendA.state, 'up', 'still up right after the reload');
  t.equal(backendA.weight, 5);
  t.equal(pool.get(`127.0.0.1:${c.port}`)!.state, 'down', 'the new backend starts down until it passes rise probes');
  t.equal(backendA.total + pool.get(`127.0.0.1:${b.port}`)!.total, totalBefore, 'counters kept');
  await lb.logs.waitForCount({ msg: 'backend up' }, 3);
  t.equal(lb.logs.matching({ msg: 'backend down' }).length, 0, 'nobody flapped');
});

t.test('the runtime rewires probers on reload: health removed, added back, a pool removed', async (t) => {
  const dead = await deadPort();
  const health = '[pools.p.health]\ninterval = "30ms"\ntimeout = "200ms"\nrise = 1\nfall = 1\n';
  const other = `[pools.q]\nbackends = [{ address = "127.0.0.1:${b.port}" }]\n[pools.q.health]\ninterval = "30ms"\ntimeout = "200ms"\nrise = 1\nfall = 1\n`;
  const { lb, file, write } = await startFromFile(t, config([{ port: a.port }, { port: dead }], { health }) + other);
  const pool = lb.runtime.pools.get('p')!;
  const deadB = pool.get(`127.0.0.1:${dead}`)!;
  await lb.logs.waitFor({ msg: 'backend up', pool: 'p', backend: `127.0.0.1:${a.port}` });
  await lb.logs.waitFor({ msg: 'backend up', pool: 'q' });
  await lb.logs.waitForCount({ msg: 'health check', backend: `127.0.0.1:${dead}`, ok: false }, 2);
  t.equal(deadB.state, 'down');
  t.not(pool.passiveHealth, null, 'the runtime gave the pool its prober');
  // Health section gone: every backend counts as up.
  write(config([{ port: a.port }, { port: dead }]) + other);
  t.equal((await lb.runtime.reload(file)).ok, true);
  t.equal(deadB.state, 'up');
  t.match(lb.logs.matching({ msg: 'backend up', backend: `127.0.0.1:${dead}` })[0], { why: 'health check removed' });
  t.equal(pool.passiveHealth, null, 'no prober without a health section');
  // Back again: a new prober starts from the backends' current health (up) and fall = 1 takes
  // the dead one down at its first probe.
  const q = lb.runtime.pools.get('q')!;
  write(config([{ port: a.port }, { port: dead }], { health }));
  t.equal((await lb.runtime.reload(file)).ok, true);
  t.equal(deadB.state, 'up', 'kept its health across the reload');
  t.equal(pool.get(`127.0.0.1:${a.port}`)!.state, 'up');
  t.equal(q.passiveHealth, null, 'the removed pool no longer probes');
  t.equal(lb.runtime.pools.has('q'), false);
  const down = await lb.logs.waitFor({ msg: 'backend down', backend: `127.0.0.1:${dead}` });
  t.equal(down.why, 'ECONNREFUSED');
  t.equal(lb.logs.matching({ msg: 'backend down', backend: `127.0.0.1:${a.port}` }).length, 0, 'the live one never flapped');
});

t.test('a listener added by one reload serves, and the next reload removes it', async (t) => {
  const { lb, file, write } = await startFromFile(t, config([{ port: a.port }]));
  const listener = lb.runtime.listeners.get('front') as TcpListener;
  write(config([{ port: a.port }]) + '\n[listeners.extra]\nbind = "127.0.0.1:0"\npool = "p"\n');
  t.equal((await lb.runtime.reload(file)).ok, true);
  t.equal(lb.runtime.listeners.get('front'), listener);
  t.equal(await exchange(lb.port('extra'), 5), true, 'new listener serves');
  write(config([{ port: a.port }]));
  t.equal((await lb.runtime.reload(file)).ok, true);
  t.equal(lb.runtime.listeners.has('extra'), false, 'removed listener gone');
});
