// Roles end to end, through an in-process lb with real servers: a pool that requires the
// primary sends sessions only to it, /status says why the others are down ("role replica,
// want primary"), and after a failover the pool follows the new primary within `rise` checks
// while on_down = "close" ends the sessions on the old one. Redis: a replica promoted with
// REPLICAOF NO ONE and the old master demoted. PostgreSQL: the primary stopped, its streaming
// replica promoted (pg_promote), and a second pool that wants replicas losing it.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { buildStatus } from '../../src/admin/status.js';
import { startLb, type TestLb } from '../support/lb.js';
import { haveRedis, redisCli, startRedis } from '../support/redis.js';
import { havePostgres, psqlPath, startPostgres } from '../support/postgres.js';

const CHECK = 'interval = "150ms"\ntimeout = "1s"\nrise = 2\nfall = 1';

function backendStatus(lb: TestLb, pool: string, key: string) {
  const p = buildStatus(lb.runtime, 'test').pools.find((x) => x.name === pool)!;
  return p.backends.find((b) => b.address === key)!;
}

/** A client session through lb that stays open until lb closes it. */
async function holdSession(port: number): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1' });
  await once(s, 'connect');
  s.on('error', () => {});
  return s;
}

const execFileP = promisify(execFile);
const haveRedisCli = spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0;

t.test('redis: ROLE decides; a promotion and a demotion move the pool', { skip: haveRedis() && haveRedisCli ? false : 'redis-server or redis-cli not installed (apt-get install redis-server redis-tools)' }, async (t) => {
  const a = await startRedis();
  t.teardown(() => a.close());
  const b = await startRedis(['--replicaof', '127.0.0.1', String(a.port)]);
  t.teardown(() => b.close());
  const ka = `127.0.0.1:${a.port}`;
  const kb = `127.0.0.1:${b.port}`;
  const lb = await startLb(t, `[global]
drain_timeout = "1s"
[listeners.cache]
bind = "127.0.0.1:0"
pool = "cache"
[pools.cache]
on_down = "close"
backends = [{ address = "${ka}" }, { address = "${kb}" }]
[pools.cache.health]
type = "redis"
require_role = "primary"
${CHECK}
`);
  await lb.logs.waitFor({ msg: 'backend up', backend: ka });
  await lb.logs.waitFor({ msg: 'health check', backend: kb, detail: 'role replica, want primary' });
  t.match(backendStatus(lb, 'cache', kb), { state: 'down', last_check: { ok: false, result: 'fail', detail: 'role replica, want primary', role: 'replica' } });
  t.match(backendStatus(lb, 'cache', ka), { state: 'up', last_check: { ok: true, role: 'primary' } });
  t.equal((await redisCli(lb.port('cache'), 'CONFIG', 'GET', 'port')).split('\n')[1], String(a.port), 'sessions go to the primary');

  const held = await holdSession(lb.port('cache'));
  const heldClosed = once(held, 'close');
  // Failover: b becomes the master, a follows it.
  await redisCli(b.port, 'REPLICAOF', 'NO', 'ONE');
  await redisCli(a.port, 'REPLICAOF', '127.0.0.1', String(b.port));
  const down = await lb.logs.waitFor({ msg: 'backend down', backend: ka });
  t.equal(down['why'], 'role replica, want primary');
  await heldClosed;
  t.pass('on_down = "close" ended the session on the demoted server');
  await lb.logs.waitFor({ msg: 'backend up', backend: kb });
  const passes = lb.logs.matching({ msg: 'health check', backend: kb, ok: true });
  t.equal(passes.length, 2, 'up after exactly rise = 2 passing checks');
  t.equal((await redisCli(lb.port('cache'), 'CONFIG', 'GET', 'port')).split('\n')[1], String(b.port), 'new sessions go to the new primary');
});

t.test('postgres: pg_is_in_recovery() decides; the pool follows a promotion', { skip: havePostgres() ? false : 'PostgreSQL not installed (apt-get install postgresql)' }, async (t) => {
  const primary = await startPostgres();
  t.teardown(() => primary.close());
  const replica = await startPostgres({ replicaOf: primary });
  t.teardown(() => replica.close());
  const kp = `127.0.0.1:${primary.port}`;
  const kr = `127.0.0.1:${replica.port}`;
  const pool = (name: string, role: string) => `[pools.${name}]
on_down = "close"
backends = [{ address = "${kp}" }, { address = "${kr}" }]
[pools.${name}.health]
type = "postgres"
user = "postgres"
require_role = "${role}"
${CHECK}
`;
  const lb = await startLb(t, `[global]
drain_timeout = "1s"
[listeners.rw]
bind = "127.0.0.1:0"
pool = "rw"
[listeners.ro]
bind = "127.0.0.1:0"
pool = "ro"
${pool('rw', 'primary')}
${pool('ro', 'replica')}
`);
  await lb.logs.waitFor({ msg: 'backend up', pool: 'rw', backend: kp });
  await lb.logs.waitFor({ msg: 'backend up', pool: 'ro', backend: kr });
  t.match(backendStatus(lb, 'rw', kr), { state: 'down', last_check: { detail: 'role replica, want primary' } });
  t.match(backendStatus(lb, 'ro', kp), { state: 'down', last_check: { detail: 'role primary, want replica' } });
  // Asynchronous: the in-process lb between psql and the server must go on running.
  const psql = async (port: number, sql: string): Promise<string> => {
    const { stdout } = await execFileP(psqlPath(), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-X', '-A', '-t', '-c', sql], { encoding: 'utf8', timeout: 10_000 });
    return stdout.trim();
  };
  t.equal(await psql(lb.port('rw'), 'SELECT pg_is_in_recovery()'), 'f', 'rw reaches the primary');
  t.equal(await psql(lb.port('ro'), 'SELECT pg_is_in_recovery()'), 't', 'ro reaches the replica');

  const held = await holdSession(lb.port('rw'));
  const heldClosed = once(held, 'close');
  await primary.close();
  await lb.logs.waitFor({ msg: 'backend down', pool: 'rw', backend: kp });
  await heldClosed;
  t.pass('on_down = "close" ended the session on the stopped primary');
  replica.sql('SELECT pg_promote()');
  await lb.logs.waitFor({ msg: 'backend up', pool: 'rw', backend: kr });
  const gone = await lb.logs.waitFor({ msg: 'backend down', pool: 'ro', backend: kr });
  t.equal(gone['why'], 'role primary, want replica');
  t.equal(await psql(lb.port('rw'), 'SELECT pg_is_in_recovery()'), 'f', 'rw reaches the promoted server');
});
