// The built program, as operators run it: `lb check` exit codes and problem lines,
// `lb run` serving traffic and stopping gracefully on SIGTERM, `lb demo`, --version/--help.
import t from 'tap';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { echoServer, connect, collect } from '../support/backends.js';
import { runLb, spawnLb, writeConfig } from '../support/lb-process.js';
import { simpleConfig } from '../support/lb.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

t.test('--version and --help exit 0', async (t) => {
  const v = await runLb(['--version']);
  t.equal(v.code, 0);
  t.equal(v.stdout.trim(), pkg.version);
  const h = await runLb(['--help']);
  t.equal(h.code, 0);
  t.match(h.stdout, /run/);
  t.match(h.stdout, /check/);
  t.match(h.stdout, /demo/);
});

t.test('usage errors exit 2', async (t) => {
  const r = await runLb(['frobnicate']);
  t.equal(r.code, 2);
  t.match(r.stderr, /unknown command/);
});

t.test('lb check: valid file exits 0 with a one-line summary', async (t) => {
  const file = writeConfig(simpleConfig([5432, 5433]));
  const r = await runLb(['check', '-c', file]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.trim().split('\n').length, 1);
  t.match(r.stdout, /1 listener/);
});

t.test('lb check: every problem printed with FILE:LINE:COL, exit 2', async (t) => {
  const text = [
    '[listeners.pg]', // 1
    'bind = "127.0.0.1:6432"', // 2
    'pool = "nope"', // 3
    'idle_timout = "1h"', // 4
    '', // 5
    '[pools.pg]', // 6
    'algorithm = "leastconn"', // 7
    'backends = [', // 8
    '  { address = "10.0.0.11:5432" },', // 9
    '  { address = "10.0.0.12:5432", weight = 0 },', // 10
    ']', // 11
  ].join('\n');
  const file = writeConfig(text);
  const r = await runLb(['check', '-c', file]);
  t.equal(r.code, 2);
  const lines = r.stderr.trim().split('\n');
  t.ok(lines.some((l) => l.startsWith(`${file}:4:1: listeners.pg.idle_timout: unknown key (did you mean "idle_timeout"?)`)), r.stderr);
  t.ok(lines.some((l) => l.startsWith(`${file}:7:`) && l.includes('pools.pg.algorithm: must be one of') && l.includes('(got "leastconn")')), r.stderr);
  t.ok(lines.some((l) => l.startsWith(`${file}:10:`) && l.includes('pools.pg.backends[1].weight:')), r.stderr);
  t.ok(lines.some((l) => l.startsWith(`${file}:3:`) && l.includes('listeners.pg.pool:') && l.includes('nope')), r.stderr);
});

t.test('lb check: missing file and TOML syntax error', async (t) => {
  const missing = await runLb(['check', '-c', '/nonexistent/lb.toml']);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /\/nonexistent\/lb\.toml/);
  const file = writeConfig('[global]\nlog_level = "info"\ndrain_timeout = \n');
  const bad = await runLb(['check', '-c', file]);
  t.equal(bad.code, 2);
  t.match(bad.stderr, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:\\d+: `, 'm'));
});

t.test('lb run: bad config exits 2 before binding anything', async (t) => {
  const file = writeConfig('[listeners.x]\nbind = "nonsense"\npool = "p"\n');
  const r = await runLb(['run', '-c', file]);
  t.equal(r.code, 2);
});

t.test('lb run: bind failure exits 1', async (t) => {
  const echo = await echoServer();
  t.teardown(() => echo.close());
  // The echo server already holds this port.
  const file = writeConfig(simpleConfig([echo.port]).replace('bind = "127.0.0.1:0"', `bind = "127.0.0.1:${echo.port}"`));
  const r = await runLb(['run', '-c', file]);
  t.equal(r.code, 1);
  t.match(r.stdout, /LB_BIND_FAILED/);
});

t.test('lb run: serves, SIGTERM lets a running stream finish, then exit 0', async (t) => {
  const echo = await echoServer();
  t.teardown(() => echo.close());
  const file = writeConfig(simpleConfig([echo.port]).replace('drain_timeout = "1s"', 'drain_timeout = "10s"'));
  const lb = spawnLb(t, ['run', '-c', file]);
  const port = await lb.port('front');
  const s = await connect(port);
  const got = collect(s);
  s.write('before');
  await once(s, 'data');
  lb.child.kill('SIGTERM');
  await lb.logs.waitFor({ msg: 'graceful stop requested' });
  // The open session still works during the drain.
  s.write('during');
  const [d] = (await once(s, 'data')) as [Buffer];
  t.equal(d.toString(), 'during');
  s.end();
  t.equal((await got).data.toString(), 'beforeduring');
  t.equal(await lb.exited, 0);
  const line = lb.logs.lines.find((l) => l.msg === 'session ended');
  t.equal(line?.end, 'client_closed');
});

t.test('lb run: drain_timeout closes what is left with end = shutdown', async (t) => {
  const echo = await echoServer();
  t.teardown(() => echo.close());
  const file = writeConfig(simpleConfig([echo.port]).replace('drain_timeout = "1s"', 'drain_timeout = "200ms"'));
  const lb = spawnLb(t, ['run', '-c', file]);
  const s = await connect(await lb.port('front'), '127.0.0.1', false);
  const got = collect(s);
  s.write('x');
  await once(s, 'data');
  lb.child.kill('SIGTERM');
  await got;
  t.equal(await lb.exited, 0);
  t.equal(lb.logs.lines.find((l) => l.msg === 'session ended')?.end, 'shutdown');
});

t.test('lb demo --duration prints a table and exits 0', async (t) => {
  const r = await runLb(['demo', '--duration', '2']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /backend\s+state\s+weight\s+active\s+total/);
  t.match(r.stdout, /tcp\s+127\.0\.0\.1:\d+\s+up/);
  t.match(r.stdout, /udp\s+127\.0\.0\.1:\d+\s+up/);
  t.match(r.stdout, /every echo came back byte for byte/);
});

t.test('lb run: SIGHUP applies a valid file and rejects an invalid one without a gap', async (t) => {
  const echo = await echoServer();
  t.teardown(() => echo.close());
  const text = simpleConfig([echo.port]);
  const file = writeConfig(text);
  const lb = spawnLb(t, ['run', '-c', file]);
  const port = await lb.port('front');
  writeFileSync(file, text + '\n[listeners.added]\nbind = "127.0.0.1:0"\npool = "p"\n');
  lb.child.kill('SIGHUP');
  await lb.logs.waitFor({ msg: 'reload applied' });
  const added = await lb.port('added');
  for (const p of [port, added]) {
    const s = await connect(p, '127.0.0.1', false);
    const got = collect(s);
    s.end('hup');
    t.equal((await got).data.toString(), 'hup', `port ${p} serves after reload`);
  }
  writeFileSync(file, text.replace('pool = "p"', 'pool = "missing"'));
  lb.child.kill('SIGHUP');
  const rejected = await lb.logs.waitFor({ msg: 'reload rejected; the running config is unchanged' });
  t.equal(rejected.level, 50);
  const problem = await lb.logs.waitFor({ msg: 'config problem' });
  t.match(problem.problem, /listeners\.front\.pool: no pool named "missing"/);
  const s = await connect(added, '127.0.0.1', false);
  const got = collect(s);
  s.end('still');
  t.equal((await got).data.toString(), 'still', 'old config still serving');
  lb.child.kill('SIGTERM');
  t.equal(await lb.exited, 0);
});

t.test('lb status: tables from a running lb; exit 1 when unreachable', async (t) => {
  const echo = await echoServer();
  t.teardown(() => echo.close());
  const file = writeConfig(simpleConfig([echo.port]) + '\n[admin]\nbind = "127.0.0.1:0"\n');
  const lb = spawnLb(t, ['run', '-c', file]);
  const port = await lb.port('front');
  const adminLine = await lb.logs.waitFor({ msg: 'admin listening' });
  const s = await connect(port, '127.0.0.1', false);
  const got = collect(s);
  s.end('status check');
  await got;
  const r = await runLb(['status', '--admin', String(adminLine.bind)]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /listener\s+protocol\s+bind\s+pool\s+active\s+total/);
  t.match(r.stdout, new RegExp(`front\\s+tcp\\s+127\\.0\\.0\\.1:${port}\\s+p\\s+0\\s+1`));
  t.match(r.stdout, /pool p \(round-robin\): 1 of 1 up/);
  t.match(r.stdout, new RegExp(`127\\.0\\.0\\.1:${echo.port}\\s+up\\s+1\\s+-\\s+0\\s+1\\s+12 B\\s+12 B`));
  lb.child.kill('SIGTERM');
  t.equal(await lb.exited, 0);
  const gone = await runLb(['status', '--admin', String(adminLine.bind)]);
  t.equal(gone.code, 1);
  t.match(gone.stderr, /cannot read http:\/\/127\.0\.0\.1:\d+\/status/);
});
