// Admission on real sockets: allow/deny for IPv4, IPv6 and IPv4-mapped clients on a
// dual-stack bind, and the listener and global connection limits. Denied clients are closed
// and logged with end = "denied" and the rule that denied them.
import t from 'tap';
import { has6 } from '../../support/net.js';
import net from 'node:net';
import { once } from 'node:events';
import { echoServer, connect, collect, type TestServer } from '../../support/backends.js';
import { startLb, simpleConfig } from '../../support/lb.js';


/** Connect, send a line, and report whether it came back (served) or the socket was closed. */
async function served(port: number, host: string): Promise<boolean> {
  const s = net.connect({ port, host, allowHalfOpen: true });
  s.on('error', () => {});
  const got = collect(s);
  s.end('ping');
  return (await got).data.toString() === 'ping';
}

let echo: TestServer;
t.before(async () => {
  echo = await echoServer();
});
t.teardown(() => echo.close());

const cases: Array<{ name: string; bind: string; acl: string; host: string; want: boolean; v6?: boolean }> = [
  { name: 'no rules: allowed', bind: '127.0.0.1:0', acl: '', host: '127.0.0.1', want: true },
  { name: 'IPv4 allowed by allow list', bind: '127.0.0.1:0', acl: 'allow = ["127.0.0.0/8"]', host: '127.0.0.1', want: true },
  { name: 'IPv4 not in allow list', bind: '127.0.0.1:0', acl: 'allow = ["10.0.0.0/8"]', host: '127.0.0.1', want: false },
  { name: 'IPv4 denied', bind: '127.0.0.1:0', acl: 'deny = ["127.0.0.1/32"]', host: '127.0.0.1', want: false },
  { name: 'deny wins over allow', bind: '127.0.0.1:0', acl: 'allow = ["127.0.0.0/8"]\ndeny = ["127.0.0.1"]', host: '127.0.0.1', want: false },
  { name: 'IPv6 allowed', bind: '[::1]:0', acl: 'allow = ["::1/128"]', host: '::1', want: true, v6: true },
  { name: 'IPv6 denied', bind: '[::1]:0', acl: 'deny = ["::/0"]', host: '::1', want: false, v6: true },
  { name: 'IPv6 not matched by IPv4 rule', bind: '[::1]:0', acl: 'allow = ["127.0.0.0/8"]', host: '::1', want: false, v6: true },
  { name: 'mapped IPv4 client matches IPv4 deny on dual-stack bind', bind: ':0', acl: 'deny = ["127.0.0.0/8"]', host: '127.0.0.1', want: false, v6: true },
  { name: 'mapped IPv4 client matches IPv4 allow on dual-stack bind', bind: ':0', acl: 'allow = ["127.0.0.0/8"]', host: '127.0.0.1', want: true, v6: true },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    if (c.v6 && !(await has6())) {
      t.skip('no IPv6 loopback here', () => {});
      return;
    }
    const toml = simpleConfig([echo.port], { listener: c.acl }).replace('bind = "127.0.0.1:0"', `bind = "${c.bind}"`);
    const lb = await startLb(t, toml);
    t.equal(await served(lb.port('front'), c.host), c.want);
    const line = await lb.logs.waitFor({ msg: 'session ended' });
    t.equal(line.end, c.want ? 'client_closed' : 'denied');
    if (!c.want) t.equal(line.detail, 'acl');
    // Mapped clients are logged as plain IPv4.
    if (c.host === '127.0.0.1') t.match(line.client, /^127\.0\.0\.1:\d+$/);
  });
}

t.test('listener max_connections: the one over the limit is denied, the others served', async (t) => {
  const lb = await startLb(t, simpleConfig([echo.port], { listener: 'max_connections = 2' }));
  const a = await connect(lb.port('front'));
  const b = await connect(lb.port('front'));
  // Make sure both are spliced (an echo came back) before the third arrives.
  for (const s of [a, b]) {
    s.write('x');
    await once(s, 'data');
  }
  t.equal(await served(lb.port('front'), '127.0.0.1'), false, 'third client refused');
  const denied = await lb.logs.waitFor({ msg: 'session ended', end: 'denied' });
  t.equal(denied.detail, 'listener_max_connections');
  a.end();
  await collect(a);
  t.equal(await served(lb.port('front'), '127.0.0.1'), true, 'a freed slot is usable again');
  b.destroy();
});

t.test('global max_connections spans listeners', async (t) => {
  const toml =
    simpleConfig([echo.port], { global: 'max_connections = 1' }) +
    `\n[listeners.second]\nbind = "127.0.0.1:0"\npool = "p"\n`;
  const lb = await startLb(t, toml);
  const a = await connect(lb.port('front'));
  a.write('x');
  await once(a, 'data');
  t.equal(await served(lb.port('second'), '127.0.0.1'), false, 'second listener refused: global budget spent');
  const denied = await lb.logs.waitFor({ msg: 'session ended', end: 'denied' });
  t.equal(denied.detail, 'global_max_connections');
  t.equal(denied.listener, 'second');
  a.destroy();
});
