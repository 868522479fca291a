// [pools.NAME.load] end to end through an in-process lb with real sockets: an HAProxy-style
// agent (a percentage scales the weight, drain / ready / down / up set the state), an HTTP
// JSON source, Redis's own figures, power-of-two weighing what the servers report, and
// /status and /metrics showing utilization and effective weight. The agent line parser is
// also fuzzed: any bytes give a verdict, never a throw.
import t from 'tap';
import fc from 'fast-check';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { buildStatus } from '../../src/admin/status.js';
import { createMetrics } from '../../src/admin/metrics.js';
import { agentDialogue, parseAgentLine } from '../../src/health/checks/agent.js';
import { startLb, type TestLb } from '../support/lb.js';
import { haveRedis, startRedis } from '../support/redis.js';

t.test('agent lines', async (t) => {
  t.same(parseAgentLine('75%\n'), { weightPercent: 75 });
  t.same(parseAgentLine('up, 50%'), { weightPercent: 50, down: false });
  t.same(parseAgentLine('DRAIN'), { state: 'drain' });
  t.same(parseAgentLine('maint # rolling upgrade'), { state: 'maint' });
  t.same(parseAgentLine('down # disk full, 10%'), { down: true }, 'a description after # is not read');
  t.same(parseAgentLine('ready up 100%'), { weightPercent: 100, state: 'ready', down: false });
  t.equal(parseAgentLine('hello world'), null);
  t.equal(parseAgentLine('101%'), null, 'over 100% is not a weight lb takes');
  const d = agentDialogue();
  t.match(d.step(Buffer.from('50%'), () => {}), null, 'no verdict before the newline');
  t.match(d.atEnd!(Buffer.from('50%')), { ok: true, agent: { weightPercent: 50 } }, 'or before the agent closes');
  t.match(d.step(Buffer.alloc(2000, 0x41), () => {}), { ok: false });
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 1500 }), (bytes) => {
      const b = Buffer.from(bytes);
      const v = agentDialogue().step(b, () => {}) as { ok: boolean } | null;
      const e = agentDialogue().atEnd!(b);
      return (v === null || typeof v.ok === 'boolean') && (e === null || typeof e.ok === 'boolean');
    }),
    { seed: 15, numRuns: 500 },
  );
});

/** A server on host:port (0: any) that runs `handler` for each connection. */
async function serve(host: string, port: number, handler: (s: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer(handler);
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}
const portOf = (s: net.Server | http.Server): number => (s.address() as net.AddressInfo).port;
const close = (s: net.Server | http.Server) => new Promise<void>((r) => s.close(() => r()));

function backend(lb: TestLb, pool: string, key: string) {
  return buildStatus(lb.runtime, 'test').pools.find((p) => p.name === pool)!.backends.find((b) => b.address === key)!;
}

/** Resolves once a `load read` line for `key` has `detail` (the reader's debug log). */
const loadRead = (lb: TestLb, key: string, detail: string) => lb.logs.waitFor({ msg: 'load read', backend: key, detail });

t.test('agent: a percentage scales the weight; drain and ready, down and up set the state', async (t) => {
  const echo1 = await serve('127.0.0.1', 0, (s) => s.pipe(s));
  const echo2 = await serve('127.0.0.2', 0, (s) => s.pipe(s));
  const said = new Map<string, string>([['127.0.0.1', '50%\n'], ['127.0.0.2', 'drain\n']]);
  const agentHandler = (s: net.Socket) => s.end(said.get(s.localAddress!.replace('::ffff:', '')) ?? '');
  const agent1 = await serve('127.0.0.1', 0, agentHandler);
  const agent2 = await serve('127.0.0.2', portOf(agent1), agentHandler);
  t.teardown(() => Promise.all([echo1, echo2, agent1, agent2].map(close)));
  const k1 = `127.0.0.1:${portOf(echo1)}`;
  const k2 = `127.0.0.2:${portOf(echo2)}`;
  const lb = await startLb(t, `[listeners.front]
bind = "127.0.0.1:0"
pool = "p"
[pools.p]
algorithm = "round-robin"
backends = [{ address = "${k1}", weight = 2 }, { address = "${k2}", weight = 2 }]
[pools.p.load]
source = "agent"
port = ${portOf(agent1)}
interval = "100ms"
`);
  await loadRead(lb, k1, 'agent: 50%');
  await lb.logs.waitFor({ msg: 'backend draining', backend: k2 });
  t.match(backend(lb, 'p', k1), { state: 'up', weight: 2, effective_weight: 1, utilization: null, agent_state: 'ready' });
  t.match(backend(lb, 'p', k2), { state: 'draining', agent_state: 'drain' });
  const metrics = await createMetrics(lb.runtime).metrics();
  t.match(metrics, new RegExp(`lb_backend_effective_weight\\{pool="p",backend="${k1}"\\} 1\\n`));

  said.set('127.0.0.2', 'ready up 25%\n');
  await lb.logs.waitFor({ msg: 'backend up', backend: k2 });
  t.match(backend(lb, 'p', k2), { state: 'up', effective_weight: 0.5, agent_state: 'ready' });
  said.set('127.0.0.1', 'down\n');
  const down = await lb.logs.waitFor({ msg: 'backend down', backend: k1 });
  t.equal(down['why'], 'agent down');
  said.set('127.0.0.1', 'up\n');
  await lb.logs.waitFor({ msg: 'backend up', backend: k1 });
  t.pass('up again when the agent says so');
});

/** An HTTP load endpoint on host:port answering {"utilization": u()}. */
async function loadEndpoint(host: string, port: number, u: () => unknown): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(req.url === '/load' ? JSON.stringify({ utilization: u() }) : '{}');
  });
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}

t.test('http source and power-of-two: the busy server takes under a quarter of new connections', async (t) => {
  const held: net.Socket[] = [];
  let allHeld = (): void => {};
  const forty = new Promise<void>((r) => (allHeld = r));
  const hold = (s: net.Socket) => {
    held.push(s);
    s.on('error', () => {});
    if (held.length === 40) allHeld();
  };
  const busy = await serve('127.0.0.1', 0, hold);
  const idle = await serve('127.0.0.2', 0, hold);
  let busyReports: unknown = 0.8;
  const l1 = await loadEndpoint('127.0.0.1', 0, () => busyReports);
  const l2 = await loadEndpoint('127.0.0.2', portOf(l1), () => 0.05);
  t.teardown(async () => {
    for (const s of held) s.destroy();
    await Promise.all([busy, idle, l1, l2].map(close));
  });
  const kb = `127.0.0.1:${portOf(busy)}`;
  const ki = `127.0.0.2:${portOf(idle)}`;
  const lb = await startLb(t, `[listeners.front]
bind = "127.0.0.1:0"
pool = "p"
[pools.p]
algorithm = "power-of-two"
backends = [{ address = "${kb}" }, { address = "${ki}" }]
[pools.p.load]
source = "http"
port = ${portOf(l1)}
interval = "100ms"
`);
  await loadRead(lb, kb, 'utilization 0.8');
  await loadRead(lb, ki, 'utilization 0.05');
  t.match(backend(lb, 'p', kb), { utilization: 0.8, effective_weight: 1 });
  const metrics = await createMetrics(lb.runtime).metrics();
  t.match(metrics, new RegExp(`lb_backend_utilization\\{pool="p",backend="${kb}"\\} 0.8\\n`));
  const clients: net.Socket[] = [];
  t.teardown(() => clients.forEach((c) => c.destroy()));
  for (let i = 0; i < 40; i++) {
    const c = net.connect(lb.port('front'), '127.0.0.1');
    await once(c, 'connect');
    clients.push(c);
  }
  await forty; // every session reached a backend
  const pool = lb.runtime.pools.get('p')!;
  const onBusy = pool.get(kb)!.active;
  t.ok(onBusy <= 10, `the server at 0.8 holds ${onBusy} of 40 (at most a quarter)`);
  t.ok(onBusy >= 1, 'it is not starved: power-of-two still weighs connections');

  busyReports = 'lots';
  await lb.logs.waitFor({ msg: 'load read', backend: kb, ok: false });
  t.equal(backend(lb, 'p', kb).utilization, null, 'a bad answer makes the load unknown');
});

t.test('redis source: connected_clients / maxclients, read with the health check\'s login', { skip: haveRedis() ? false : 'redis-server not installed (apt-get install redis-server)' }, async (t) => {
  const r = await startRedis(['--maxclients', '50', '--requirepass', 'load pw']);
  t.teardown(() => r.close());
  process.env['LB_TEST_REDIS_PW'] = 'load pw';
  t.teardown(() => delete process.env['LB_TEST_REDIS_PW']);
  const key = `127.0.0.1:${r.port}`;
  const lb = await startLb(t, `[listeners.front]
bind = "127.0.0.1:0"
pool = "p"
[pools.p]
backends = [{ address = "${key}" }]
[pools.p.health]
type = "redis"
password_env = "LB_TEST_REDIS_PW"
interval = "200ms"
[pools.p.load]
source = "redis"
interval = "100ms"
`);
  const line = await lb.logs.waitFor({ msg: 'load read', backend: key, ok: true });
  t.ok(typeof line['utilization'] === 'number' && (line['utilization'] as number) > 0 && (line['utilization'] as number) <= 3 / 50, `utilization ${String(line['utilization'])}`);
  await lb.logs.waitFor({ msg: 'backend up', backend: key });
  t.match(backend(lb, 'p', key), { state: 'up' });
  t.notOk(JSON.stringify(buildStatus(lb.runtime, 'test')).includes('load pw'), 'the password is nowhere in /status');
});
