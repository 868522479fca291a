// `workers = 2`: the built program as a supervisor with two worker processes. Health, admin
// drains and reloads live in the supervisor and must reach every worker; /status adds up the
// workers' counters; a killed worker comes back; SIGTERM drains every worker and exits 0.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { request } from 'node:http';
import { echoServer, startServer, connect, collect, type TestServer } from '../support/backends.js';
import { spawnLb, writeConfig, runLb, type LbProcess } from '../support/lb-process.js';
import { startUdpEcho, udpClient } from '../support/udp.js';
import { freePort } from '../support/net.js';

/** A backend that answers every connection with its id, then echoes. */
function idServer(id: string): Promise<TestServer> {
  return startServer((s) => {
    s.write(`${id};`);
    s.pipe(s);
  });
}

function config(body: string): string {
  return ['[global]', 'workers = 2', 'drain_timeout = "5s"', '[admin]', 'bind = "127.0.0.1:0"', body].join('\n');
}

async function adminPort(lb: LbProcess): Promise<number> {
  const line = await lb.logs.waitFor({ msg: 'admin listening' });
  const bind = String(line.bind);
  return Number(bind.slice(bind.lastIndexOf(':') + 1));
}

function http(port: number, method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** One short connection: send `msg`, end, and return everything received. */
async function roundTrip(port: number, msg: string): Promise<string> {
  const s = await connect(port, '127.0.0.1', false);
  const got = collect(s);
  s.end(msg);
  return (await got).data.toString();
}

/**
 * One connection lb is expected to refuse (no backend): whatever came back before it closed.
 * lb resets such a client, which may even fail the client's connect (ECONNRESET).
 */
function refused(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let got = '';
    s.setEncoding('utf8').on('data', (d: string) => (got += d));
    s.on('connect', () => s.end('x'));
    s.on('error', () => {});
    s.on('close', () => resolve(got));
  });
}

/** `n` connections, `concurrency` at a time; the replies, in order. */
async function many(port: number, n: number, concurrency = 20): Promise<string[]> {
  const out: string[] = new Array<string>(n);
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await roundTrip(port, `m${i}`);
    }
  }));
  return out;
}

t.test('two workers serve one listener; /status and /metrics add up both', async (t) => {
  const echo = await echoServer();
  t.teardown(() => echo.close());
  const file = writeConfig(config(`[listeners.front]\nbind = "127.0.0.1:0"\npool = "p"\n[pools.p]\nbackends = [{ address = "127.0.0.1:${echo.port}" }]\n`));
  const lb = spawnLb(t, ['run', '-c', file]);
  const port = await lb.port('front');
  const listening = await lb.logs.waitForCount({ msg: 'listening', listener: 'front' }, 2);
  t.equal(new Set(listening.map((l) => l.pid)).size, 2, 'two processes listen');
  t.equal(new Set(listening.map((l) => l.bind)).size, 1, 'on one address');
  await lb.logs.waitFor({ msg: 'started' });
  const replies = await many(port, 200);
  t.same(replies.filter((r, i) => r !== `m${i}`), [], 'every reply is its own echo');
  const admin = await adminPort(lb);
  const status = JSON.parse((await http(admin, 'GET', '/status')).body) as {
    workers: number; pid: number;
    listeners: Array<{ name: string; total: number; bytes_in: number }>;
    pools: Array<{ backends: Array<{ total: number; bytes_out: number; state: string }> }>;
  };
  t.equal(status.workers, 2);
  t.equal(status.pid, lb.child.pid, 'the supervisor answers');
  const front = status.listeners.find((l) => l.name === 'front')!;
  t.equal(front.total, 200, 'sessions of both workers');
  const bytes = replies.reduce((n, r) => n + r.length, 0);
  t.equal(front.bytes_in, bytes);
  t.equal(status.pools[0]!.backends[0]!.total, 200);
  t.equal(status.pools[0]!.backends[0]!.bytes_out, bytes);
  const metrics = (await http(admin, 'GET', '/metrics')).body;
  t.match(metrics, /lb_listener_sessions_total\{listener="front",protocol="tcp"\} 200/);
  t.match(metrics, /# TYPE lb_local_errors_total counter/, 'local errors are reported (summed over workers)');
  // Lines from two processes share one stdout pipe: each must arrive whole (none torn).
  const ended = await lb.logs.waitForCount({ msg: 'session ended' }, 200);
  t.equal(ended.length, 200, 'one access line per connection, none torn');
  const st = await runLb(['status', '--admin', `127.0.0.1:${admin}`]);
  t.match(st.stdout, /workers 2/);
});

t.test('health in the supervisor reaches every worker; admin drain too', async (t) => {
  const a = await idServer('a');
  const b = await idServer('b');
  t.teardown(() => b.close());
  const file = writeConfig(config(
    `[listeners.front]\nbind = "127.0.0.1:0"\npool = "p"\n[pools.p]\nalgorithm = "round-robin"\n` +
    `backends = [{ address = "127.0.0.1:${a.port}" }, { address = "127.0.0.1:${b.port}" }]\n` +
    `[pools.p.health]\ninterval = "100ms"\ntimeout = "50ms"\nrise = 1\nfall = 1\n`,
  ));
  const lb = spawnLb(t, ['run', '-c', file]);
  const port = await lb.port('front');
  await lb.logs.waitForCount({ msg: 'backend up' }, 2);
  const both = await many(port, 40);
  t.ok(both.some((r) => r.startsWith('a;')) && both.some((r) => r.startsWith('b;')), 'both backends in use');
  // Backend a goes away: the supervisor's prober sees it; no worker may pick it afterwards.
  await a.close();
  const down = await lb.logs.waitFor({ msg: 'backend down' });
  t.equal(down.pid, lb.child.pid, 'logged once, by the supervisor');
  t.equal(lb.logs.matching({ msg: 'backend down' }).length, 1);
  const after = await many(port, 60);
  t.same(after.filter((r) => !r.startsWith('b;')), [], 'every connection reaches b');
  // Admin drain of b, the last one up: no backend is left for new connections.
  const admin = await adminPort(lb);
  const r = await http(admin, 'POST', `/pools/p/backends/${encodeURIComponent(`127.0.0.1:${b.port}`)}/drain`);
  t.equal(r.status, 200, r.body);
  const drained: string[] = [];
  for (let i = 0; i < 20; i++) drained.push(await refused(port));
  t.same(drained.filter((x) => x !== ''), [], 'no worker sends new connections to a drained backend');
  t.equal((await lb.logs.waitForCount({ msg: 'session ended', end: 'no_backend' }, 20)).length, 20);
  await http(admin, 'POST', `/pools/p/backends/${encodeURIComponent(`127.0.0.1:${b.port}`)}/enable`);
  t.same((await many(port, 20)).filter((x) => !x.startsWith('b;')), [], 'enabled again everywhere');
});

t.test('reload under load: every worker applies it, no connection fails', async (t) => {
  const a = await idServer('a');
  const b = await idServer('b');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const base = `[listeners.front]\nbind = "127.0.0.1:0"\npool = "p"\n[pools.p]\n`;
  const file = writeConfig(config(`${base}backends = [{ address = "127.0.0.1:${a.port}" }]\n`));
  const lb = spawnLb(t, ['run', '-c', file]);
  const port = await lb.port('front');
  await lb.logs.waitFor({ msg: 'started' });
  const { writeFileSync } = await import('node:fs');
  let failures = 0;
  let stop = false;
  const load = (async () => {
    let i = 0;
    while (!stop && i < 5000) {
      const r = await roundTrip(port, `x${i}`);
      if (!r.endsWith(`x${i}`)) failures++;
      i++;
    }
    return i;
  })();
  for (let k = 0; k < 6; k++) {
    const backend = k % 2 === 0 ? b : a;
    const extra = k % 2 === 0 ? `[listeners.extra]\nbind = "127.0.0.1:0"\npool = "p"\n` : '';
    writeFileSync(file, config(`${base}backends = [{ address = "127.0.0.1:${backend.port}" }]\n${extra}`));
    const applied = lb.logs.waitForCount({ msg: 'reload applied' }, k + 1);
    lb.child.kill('SIGHUP');
    await applied;
  }
  stop = true;
  const sent = await load;
  t.ok(sent > 0);
  t.equal(failures, 0, `${sent} connections during 6 reloads`);
  t.equal(lb.logs.matching({ msg: 'reload applied' }).every((l) => l.pid === lb.child.pid), true, 'reload logged by the supervisor only');
  // The last config points at a only: new connections from every worker reach a.
  t.same((await many(port, 40)).filter((r) => !r.startsWith('a;')), []);
  // A reload whose bind fails changes nothing.
  const busy = await echoServer();
  t.teardown(() => busy.close());
  writeFileSync(file, config(`${base}backends = [{ address = "127.0.0.1:${b.port}" }]\n[listeners.clash]\nbind = "127.0.0.1:${busy.port}"\npool = "p"\n`));
  lb.child.kill('SIGHUP');
  const rejected = await lb.logs.waitFor({ msg: 'reload rejected; the running config is unchanged' });
  t.match(String(rejected.error), /EADDRINUSE/);
  t.same((await many(port, 20)).filter((r) => !r.startsWith('a;')), [], 'old config still in force');
});

t.test('a killed worker is restarted; UDP runs in the first worker', async (t) => {
  const echo = await echoServer();
  const uecho = await startUdpEcho({ id: 'u' });
  t.teardown(() => Promise.all([echo.close(), uecho.close()]));
  // A fixed UDP port: a restarted worker binds the configured address again (port 0 would
  // be a new OS choice once the only process holding it is gone).
  const fixed = await freePort();
  const file = writeConfig(config(
    `[listeners.front]\nbind = "127.0.0.1:0"\npool = "p"\n[listeners.game]\nprotocol = "udp"\nbind = "127.0.0.1:${fixed}"\npool = "u"\n` +
    `[pools.p]\nbackends = [{ address = "127.0.0.1:${echo.port}" }]\n[pools.u]\nbackends = [{ address = "127.0.0.1:${uecho.port}" }]\n`,
  ));
  const lb = spawnLb(t, ['run', '-c', file]);
  const port = await lb.port('front');
  const uport = await lb.port('game');
  await lb.logs.waitFor({ msg: 'started' });
  t.equal(lb.logs.matching({ msg: 'listening', listener: 'game' }).length, 1, 'one process binds the UDP listener');
  const c = await udpClient(uport);
  t.teardown(() => c.close());
  t.equal((await c.request(Buffer.from('ping'))).toString(), 'u:ping');
  // The worker that holds the UDP listener (the first) dies.
  const victim = Number(lb.logs.matching({ msg: 'listening', listener: 'game' })[0]!.pid);
  process.kill(victim, 'SIGKILL');
  const restarted = await lb.logs.waitFor({ msg: 'worker restarted' });
  t.not(restarted.pid, victim);
  t.ok(lb.logs.matching({ msg: 'worker exited; restarting it' }).length === 1);
  t.same((await many(port, 40)).filter((r, i) => r !== `m${i}`), [], 'served after the restart');
  const c2 = await udpClient(uport);
  t.teardown(() => c2.close());
  t.equal((await c2.request(Buffer.from('pong'))).toString(), 'u:pong', 'UDP served after the restart');
});

t.test('SIGTERM: every worker drains its sessions, then exit 0; bind failure exits 1', async (t) => {
  const echo = await echoServer();
  t.teardown(() => echo.close());
  const file = writeConfig(config(`[listeners.front]\nbind = "127.0.0.1:0"\npool = "p"\n[pools.p]\nbackends = [{ address = "127.0.0.1:${echo.port}" }]\n`));
  const lb = spawnLb(t, ['run', '-c', file]);
  const port = await lb.port('front');
  await lb.logs.waitFor({ msg: 'started' });
  const open = await Promise.all(Array.from({ length: 10 }, () => connect(port)));
  const got = open.map((s) => collect(s));
  await Promise.all(open.map(async (s) => {
    s.write('a');
    await once(s, 'data');
  }));
  lb.child.kill('SIGTERM');
  await Promise.all([lb.logs.waitFor({ msg: 'stopping', worker: 1 }), lb.logs.waitFor({ msg: 'stopping', worker: 2 })]);
  for (const s of open) s.end('b');
  const data = await Promise.all(got);
  t.same(data.map((d) => d.data.toString()), open.map(() => 'ab'), 'sessions finish during the drain');
  t.equal(await lb.exited, 0);
  t.equal((await lb.logs.waitForCount({ msg: 'session ended', end: 'client_closed' }, 10)).length, 10);

  const clash = writeConfig(config(`[listeners.front]\nbind = "127.0.0.1:${echo.port}"\npool = "p"\n[pools.p]\nbackends = [{ address = "127.0.0.1:${echo.port}" }]\n`));
  const r = await runLb(['run', '-c', clash]);
  t.equal(r.code, 1);
  t.match(r.stdout, /LB_BIND_FAILED/);
});

t.test('workers: "auto" and integers are valid; 0 and "many" are not', async (t) => {
  const body = '[listeners.f]\nbind = "127.0.0.1:0"\npool = "p"\n[pools.p]\nbackends = [{ address = "127.0.0.1:1" }]\n';
  t.equal((await runLb(['check', '-c', writeConfig(`[global]\nworkers = "auto"\n${body}`)])).code, 0);
  t.equal((await runLb(['check', '-c', writeConfig(`[global]\nworkers = 4\n${body}`)])).code, 0);
  for (const bad of ['0', '"many"', '65']) {
    const r = await runLb(['check', '-c', writeConfig(`[global]\nworkers = ${bad}\n${body}`)]);
    t.equal(r.code, 2, bad);
    t.match(r.stderr, /:2:1: global\.workers: must be "auto" or an integer from 1 to 64/);
  }
});
