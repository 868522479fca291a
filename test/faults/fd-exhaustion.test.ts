// More clients than file descriptors, with health checks on, through the built program under
// a descriptor limit (`ulimit -n`, soft and hard), on both data paths. lb's own limit must
// never be blamed on a backend: both healthy backends stay up (fall = 1, so one probe lost to
// EMFILE would mark one down), sessions already served keep working (on_down = "close" would
// cut them otherwise), every refused client is reset, counted (lb_local_errors_total) and
// warned about at most once a second, and the admin API answers during the flood.
import t from 'tap';
import net, { type Socket } from 'node:net';
import { once } from 'node:events';
import { echoServer } from '../support/backends.js';
import { spawnLb, writeConfig } from '../support/lb-process.js';
import { request, parseExposition, value } from '../support/http.js';
import { freePort } from '../support/net.js';
import { pathsHere } from '../support/datapaths.js';

const NOFILE = 160;
const CLIENTS = 400;

/** Connect and ask for an echo: 'served' or 'refused' (reset or closed before the answer). */
function attempt(port: number): Promise<{ socket: Socket; outcome: 'served' | 'refused' }> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let done = false;
    const finish = (outcome: 'served' | 'refused'): void => {
      if (done) return;
      done = true;
      resolve({ socket, outcome });
    };
    socket.on('error', () => finish('refused'));
    socket.on('close', () => finish('refused'));
    socket.once('data', (d: Buffer) => finish(d.toString() === 'hi' ? 'served' : 'refused'));
    socket.on('connect', () => socket.write('hi'));
  });
}

for (const datapath of pathsHere()) {
  t.test(`${datapath}: ${CLIENTS} clients under ulimit -n ${NOFILE}: backends stay up, lb says it is its own limit`, async (t) => {
    const a = await echoServer();
    const b = await echoServer();
    t.teardown(() => Promise.all([a.close(), b.close()]));
    const adminPort = await freePort();
    const file = writeConfig([
      '[global]', `datapath = "${datapath}"`, 'drain_timeout = "0s"',
      '[admin]', `bind = "127.0.0.1:${adminPort}"`,
      '[listeners.front]', 'bind = "127.0.0.1:0"', 'pool = "p"',
      '[pools.p]', 'on_down = "close"', `backends = [{ address = "127.0.0.1:${a.port}" }, { address = "127.0.0.1:${b.port}" }]`,
      '[pools.p.health]', 'interval = "100ms"', 'timeout = "500ms"', 'rise = 1', 'fall = 1',
    ].join('\n'));
    const lb = spawnLb(t, ['run', '-c', file], {}, { nofile: NOFILE });
    const port = await lb.port('front');
    await lb.logs.waitFor({ msg: 'backend up', backend: `127.0.0.1:${a.port}` });
    await lb.logs.waitFor({ msg: 'backend up', backend: `127.0.0.1:${b.port}` });

    const results = await Promise.all(Array.from({ length: CLIENTS }, () => attempt(port)));
    const served = results.filter((r) => r.outcome === 'served');
    const refused = results.length - served.length;
    t.teardown(() => results.forEach((r) => r.socket.destroy()));
    t.ok(served.length > 0, `clients within the limit are served (${served.length})`);
    t.ok(refused > 0, `clients beyond it are refused (${refused})`);

    // The admin API answers while every descriptor lb may give to sessions is taken.
    const health = await request(adminPort, 'GET', '/healthz');
    t.equal(health.status, 200, 'admin /healthz answers during the flood');
    // Health checks went on during the flood: wait for a check of each backend after it.
    const floodEnd = Date.now();
    for (;;) {
      const st = JSON.parse((await request(adminPort, 'GET', '/status')).body) as { pools: { name: string; backends: { address: string; state: string; last_check: { at: string } | null }[] }[] };
      const bs = st.pools.find((p) => p.name === 'p')!.backends;
      if (bs.every((x) => x.last_check !== null && Date.parse(x.last_check.at) > floodEnd)) {
        t.same(bs.map((x) => x.state), ['up', 'up'], 'both backends are still up');
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    t.same(lb.logs.matching({ msg: 'backend down' }), [], 'no backend was marked down');

    // Sessions served before and during the flood still work: none was cut.
    let alive = 0;
    for (const { socket } of served) {
      const echoed = once(socket, 'data');
      socket.write('hi');
      if (String((await echoed)[0]) === 'hi') alive++;
    }
    t.equal(alive, served.length, 'every served session still echoes');
    const warn = await lb.logs.waitFor({ msg: 'clients refused: lb is out of file descriptors' });
    t.equal(warn.code, 'EMFILE');
    t.equal(warn.end, 'local_error');
    t.ok(lb.logs.matching({ msg: 'clients refused: lb is out of file descriptors' }).length <= 3, 'warned at most once a second');
    const metrics = parseExposition((await request(adminPort, 'GET', '/metrics')).body);
    t.ok((value(metrics, 'lb_local_errors_total', { code: 'EMFILE' }) ?? 0) >= refused, 'every refused client is counted');
    t.equal(value(metrics, 'lb_backend_connect_failures_total', { pool: 'p', backend: `127.0.0.1:${a.port}` }) ?? 0, 0, 'nothing counted against a backend');

    // Once clients leave, new ones are served again.
    for (const r of results) r.socket.destroy();
    for (;;) {
      const again = await attempt(port);
      again.socket.destroy();
      if (again.outcome === 'served') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    t.pass('served again once descriptors are free');
    lb.child.kill('SIGTERM');
    t.equal(await lb.exited, 0);
  });
}
