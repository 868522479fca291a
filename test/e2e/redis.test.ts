// A real client and real servers nobody here wrote: redis-benchmark through `lb run` in
// front of three redis-server processes, under every algorithm, must see zero errors.
// Skips when Debian's redis-server / redis-benchmark are not installed.
import t from 'tap';
import { haveRedis, startRedis, redisBenchmark, type RedisServer } from '../support/redis.js';
import { spawnLb, writeConfig } from '../support/lb-process.js';
import { connect, collect } from '../support/backends.js';

if (!haveRedis()) {
  t.skip('redis-server/redis-benchmark not installed (apt-get install redis-server redis-tools)', () => {});
} else {
  let servers: RedisServer[] = [];
  t.before(async () => {
    servers = await Promise.all([startRedis(), startRedis(), startRedis()]);
  });
  t.teardown(() => Promise.all(servers.map((s) => s.close())));

  const config = (algorithm: string): string => `[global]
log_level = "info"
drain_timeout = "1s"
[listeners.redis]
bind = "127.0.0.1:0"
pool = "redis"
[pools.redis]
algorithm = "${algorithm}"
backends = [
${servers.map((s) => `  { address = "127.0.0.1:${s.port}" },`).join('\n')}
]
`;

  for (const algorithm of ['round-robin', 'least-connections', 'consistent-hash', 'power-of-two']) {
    t.test(`redis-benchmark through lb, ${algorithm}: zero errors`, async (t) => {
      const lb = spawnLb(t, ['run', '-c', writeConfig(config(algorithm))]);
      const port = await lb.port('redis');
      const r = await redisBenchmark(port, ['-n', '4000', '-c', '20', '-t', 'set,get,incr,lpush', '--csv']);
      t.equal(r.code, 0, r.out);
      t.notMatch(r.out, /error|Error|ERR/, 'no errors reported');
      for (const name of ['SET', 'GET', 'INCR', 'LPUSH']) t.match(r.out, new RegExp(`^"${name}`, 'm'));
      lb.child.kill('SIGTERM');
      t.equal(await lb.exited, 0);
    });
  }

  t.test('consistent-hash by source-ip: a SET on one connection is seen by a GET on the next', async (t) => {
    const lb = spawnLb(t, ['run', '-c', writeConfig(config('consistent-hash'))]);
    const port = await lb.port('redis');
    const ask = async (cmd: string): Promise<string> => {
      const s = await connect(port, '127.0.0.1', false);
      const got = collect(s);
      s.write(cmd);
      s.once('data', () => s.end());
      return (await got).data.toString();
    };
    t.equal(await ask('SET lbkey sticky\r\n'), '+OK\r\n');
    for (let i = 0; i < 5; i++) t.equal(await ask('GET lbkey\r\n'), '$6\r\nsticky\r\n', `connection ${i} reached the same backend`);
    lb.child.kill('SIGTERM');
    t.equal(await lb.exited, 0);
  });
}
