// UDP through lb on real dgram sockets: exact datagram boundaries from 1 to 65507 bytes,
// 1,000 concurrent client sessions that each stick to one backend, consistent-hash by source
// IP across new sessions, expiry with its access line, a backend that goes silent and is
// marked down by a UDP send/expect probe, ACL and limit drops, IPv6.
import t from 'tap';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { startUdpEcho, udpClient, type UdpEcho } from '../../support/udp.js';
import { startLb } from '../../support/lb.js';
import type { UdpListener } from '../../../src/listeners/udp/udp-listener.js';

function udpConfig(ports: number[], opts: { listener?: string; pool?: string; host?: string; health?: string } = {}): string {
  const host = opts.host ?? '127.0.0.1';
  const h = host.includes(':') ? `[${host}]` : host;
  return `[global]
drain_timeout = "1s"
[listeners.game]
protocol = "udp"
bind = "${h}:0"
pool = "g"
${opts.listener ?? ''}
[pools.g]
${opts.pool ?? ''}
backends = [
${ports.map((p) => `  { address = "${h}:${p}" },`).join('\n')}
]
${opts.health ?? ''}`;
}

t.test('datagrams of every size from 1 to 65507 bytes come back byte for byte', async (t) => {
  const echo = await startUdpEcho();
  t.teardown(() => echo.close());
  const lb = await startLb(t, udpConfig([echo.port]));
  const c = await udpClient(lb.port('game'));
  t.teardown(() => c.close());
  const sizes = [1, 2, 3, 100, 512, 1200, 1472, 1473, 1500, 4096, 9000, 16384, 32768, 65000, 65506, 65507];
  for (const size of sizes) {
    const msg = randomBytes(size);
    const reply = await c.request(msg);
    t.equal(reply.length, size, `size ${size}`);
    t.ok(reply.equals(msg), `bytes ${size}`);
  }
  // Several datagrams in flight are neither merged nor split.
  const replies: Buffer[] = [];
  const all = new Promise<void>((resolve) => c.socket.on('message', (m: Buffer) => { replies.push(m); if (replies.length === 50) resolve(); }));
  for (let i = 0; i < 50; i++) c.socket.send(Buffer.from(`d${i}`));
  await all;
  t.same(replies.map(String).sort(), Array.from({ length: 50 }, (_, i) => `d${i}`).sort());
  const l = lb.runtime.listeners.get('game') as UdpListener;
  t.equal(l.sessions.size, 1, 'one client, one session');
});

t.test('1,000 concurrent clients spread over backends, each sticks to one', async (t) => {
  const backends = await Promise.all(['a', 'b', 'c'].map((id) => startUdpEcho({ id })));
  t.teardown(() => Promise.all(backends.map((b) => b.close())));
  const lb = await startLb(t, udpConfig(backends.map((b) => b.port), { pool: 'algorithm = "round-robin"', listener: 'max_connections = 2000' }));
  const port = lb.port('game');
  const clients = await Promise.all(Array.from({ length: 1000 }, () => udpClient(port)));
  t.teardown(() => Promise.all(clients.map((c) => c.close())));
  const first = await Promise.all(clients.map((c, i) => c.request(`hello ${i}`)));
  const owner = first.map((r) => r.toString().split(':')[0]!);
  t.same(first.map((r, i) => r.toString().slice(2)), clients.map((_, i) => `hello ${i}`), 'every reply intact');
  const counts = { a: 0, b: 0, c: 0 } as Record<string, number>;
  for (const o of owner) counts[o]!++;
  t.same(Object.keys(counts).sort(), ['a', 'b', 'c']);
  for (const [id, n] of Object.entries(counts)) t.ok(n >= 300 && n <= 367, `backend ${id} got ${n} sessions`);
  // Three more rounds: every client lands on the same backend again.
  for (let round = 0; round < 3; round++) {
    const again = await Promise.all(clients.map((c, i) => c.request(`r${round}-${i}`)));
    t.same(again.map((r) => r.toString().split(':')[0]), owner, `round ${round}: sticky`);
  }
  const l = lb.runtime.listeners.get('game') as UdpListener;
  t.equal(l.sessions.size, 1000);
  t.equal(lb.runtime.activeSessions, 1000);
});

t.test('consistent-hash by source IP keeps a client on its backend across sessions', async (t) => {
  const backends = await Promise.all(['a', 'b', 'c'].map((id) => startUdpEcho({ id })));
  t.teardown(() => Promise.all(backends.map((b) => b.close())));
  const lb = await startLb(t, udpConfig(backends.map((b) => b.port), { pool: 'algorithm = "consistent-hash"', listener: 'session_timeout = "50ms"' }));
  const owners = new Set<string>();
  for (let i = 0; i < 5; i++) {
    // A new socket each time: a new source port, a new session, the same source IP.
    const c = await udpClient(lb.port('game'));
    owners.add((await c.request('x')).toString().split(':')[0]!);
    await c.close();
  }
  t.equal(owners.size, 1, `every session went to ${[...owners].join(',')}`);
});

t.test('a session expires after session_timeout with one access line', async (t) => {
  const echo = await startUdpEcho();
  t.teardown(() => echo.close());
  const lb = await startLb(t, udpConfig([echo.port], { listener: 'session_timeout = "100ms"' }));
  const c = await udpClient(lb.port('game'));
  t.teardown(() => c.close());
  await c.request('abc');
  await c.request('defgh');
  const line = await lb.logs.waitFor({ msg: 'session ended' });
  t.equal(line.end, 'idle_timeout');
  t.equal(line.packets_in, 2);
  t.equal(line.packets_out, 2);
  t.equal(line.bytes_in, 8);
  t.equal(line.bytes_out, 8);
  t.equal(line.backend, `127.0.0.1:${echo.port}`);
  t.match(line.backend_local, /^127\.0\.0\.1:\d+$/);
  t.equal(line.listener, 'game');
  t.ok((line.duration_ms as number) >= 100);
  const l = lb.runtime.listeners.get('game') as UdpListener;
  t.equal(l.sessions.size, 0);
  t.equal(lb.logs.matching({ msg: 'session ended' }).length, 1, 'logged once');
  // The next datagram opens a new session.
  t.equal((await c.request('again')).toString(), 'again');
});

t.test('a backend that goes silent is marked down by the UDP probe (silence is failure)', async (t) => {
  const [a, b] = await Promise.all([startUdpEcho({ id: 'a' }), startUdpEcho({ id: 'b' })]);
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const health = '[pools.g.health]\ninterval = "40ms"\ntimeout = "100ms"\nrise = 1\nfall = 2\nsend = "ping"\nexpect = "a:ping"\n';
  // Only a's reply matches "a:ping": b must never come up (its reply is "b:ping").
  const lb = await startLb(t, udpConfig([a.port, b.port], { health }));
  await lb.logs.waitFor({ msg: 'backend up', backend: `127.0.0.1:${a.port}` });
  const c = await udpClient(lb.port('game'));
  t.teardown(() => c.close());
  t.equal((await c.request('1')).toString(), 'a:1');
  t.equal(lb.runtime.pools.get('g')!.get(`127.0.0.1:${b.port}`)!.state, 'down', 'wrong reply never passes');
  // Now a goes silent: silence is failure.
  a.silent = true;
  const down = await lb.logs.waitFor({ msg: 'backend down', backend: `127.0.0.1:${a.port}` });
  t.match(down.why, /timeout \(no reply\)/);
  // b is still down (wrong reply), so the session of the down backend ends and the client's
  // next datagram finds no backend: dropped and counted, never answered.
  const l = lb.runtime.listeners.get('game') as UdpListener;
  c.socket.send('2');
  while (l.drops.noBackend === 0) await new Promise((r) => setImmediate(r));
  const ended = await lb.logs.waitFor({ msg: 'session ended' });
  t.equal(ended.end, 'backend_closed');
  t.equal(ended.detail, 'backend_down');
});

t.test('sessions of a backend marked down move to another on their next datagram', async (t) => {
  const [a, b] = await Promise.all([startUdpEcho({ id: 'a' }), startUdpEcho({ id: 'b' })]);
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const lb = await startLb(t, udpConfig([a.port, b.port], { pool: 'algorithm = "round-robin"' }));
  const pool = lb.runtime.pools.get('g')!;
  const c = await udpClient(lb.port('game'));
  t.teardown(() => c.close());
  const first = (await c.request('1')).toString().split(':')[0]!;
  const firstPort = first === 'a' ? a.port : b.port;
  // The health check's verdict, as the prober would deliver it.
  pool.healthChanged(pool.get(`127.0.0.1:${firstPort}`)!, false, 'test');
  const second = (await c.request('2')).toString().split(':')[0]!;
  t.not(second, first, `moved from ${first} to ${second}`);
  t.equal((await c.request('3')).toString().split(':')[0], second, 'and stays there');
});

t.test('ACL and limits drop datagrams without answering, and count them', async (t) => {
  const echo = await startUdpEcho();
  t.teardown(() => echo.close());
  const lb = await startLb(t, udpConfig([echo.port], { listener: 'deny = ["127.0.0.0/8"]' }));
  const l = lb.runtime.listeners.get('game') as UdpListener;
  const c = await udpClient(lb.port('game'));
  t.teardown(() => c.close());
  c.socket.send('denied');
  while (l.drops.denied === 0) await new Promise((r) => setImmediate(r));
  t.equal(l.drops.denied, 1);
  t.equal(l.sessions.size, 0);
  t.equal(echo.received, 0, 'the backend never saw it');

  const lb2 = await startLb(t, udpConfig([echo.port], { listener: 'max_connections = 2' }));
  const l2 = lb2.runtime.listeners.get('game') as UdpListener;
  const cs = await Promise.all([0, 1, 2].map(() => udpClient(lb2.port('game'))));
  t.teardown(() => Promise.all(cs.map((x) => x.close())));
  t.equal((await cs[0]!.request('a')).toString(), 'a');
  t.equal((await cs[1]!.request('b')).toString(), 'b');
  cs[2]!.socket.send('c');
  while (l2.drops.limit === 0) await new Promise((r) => setImmediate(r));
  t.equal(l2.sessions.size, 2, 'third client got no session');
});

t.test('IPv6 listener and backend', async (t) => {
  const probe = dgram.createSocket('udp6');
  try {
    probe.bind(0, '::1');
    await once(probe, 'listening');
  } catch {
    t.skip('no IPv6 loopback here', () => {});
    return;
  } finally {
    probe.close();
  }
  const echo: UdpEcho = await startUdpEcho({ host: '::1' });
  t.teardown(() => echo.close());
  const lb = await startLb(t, udpConfig([echo.port], { host: '::1', listener: 'allow = ["::1/128"]' }));
  const c = await udpClient(lb.port('game'), '::1');
  t.teardown(() => c.close());
  const msg = randomBytes(60000);
  t.ok((await c.request(msg)).equals(msg));
  const l = lb.runtime.listeners.get('game') as UdpListener;
  t.match([...l.sessions.values()][0]!.clientIp, '::1');
});

t.test('a burst from one client, longer than one receive batch, arrives whole and in order', async (t) => {
  const echo = await startUdpEcho();
  t.teardown(() => echo.close());
  const lb = await startLb(t, udpConfig([echo.port]));
  const c = await udpClient(lb.port('game'));
  t.teardown(() => c.close());
  const n = 200; // receive batches hold 32 datagrams
  const sent = Array.from({ length: n }, (_, i) => Buffer.concat([Buffer.from(`${i}:`), randomBytes(1 + (i * 37) % 1400)]));
  const got: Buffer[] = [];
  const all = new Promise<void>((resolve) => c.socket.on('message', (m: Buffer) => { got.push(m); if (got.length === n) resolve(); }));
  for (const m of sent) c.socket.send(m);
  await all;
  t.equal(got.length, n);
  t.ok(got.every((m, i) => m.equals(sent[i]!)), 'every datagram intact, none merged or split, in order');
  const l = lb.runtime.listeners.get('game') as UdpListener;
  t.equal(l.datagramsIn, n);
  t.equal(l.datagramsOut, n);
  t.equal(l.bytesIn, sent.reduce((a, m) => a + m.length, 0), 'bytes counted');
});

t.test('a backend port with nothing behind it: ICMP unreachable counts as a connect failure', async (t) => {
  // A port that was just free: bound, read, closed.
  const gone = dgram.createSocket('udp4');
  gone.bind(0, '127.0.0.1');
  await once(gone, 'listening');
  const deadPort = gone.address().port;
  await new Promise<void>((r) => gone.close(() => r()));
  const echo = await startUdpEcho({ id: 'e' });
  t.teardown(() => echo.close());
  const lb = await startLb(t, udpConfig([deadPort, echo.port], { pool: 'algorithm = "round-robin"' }));
  const pool = lb.runtime.pools.get('g')!;
  const dead = pool.get(`127.0.0.1:${deadPort}`)!;
  const clients = await Promise.all([0, 1].map(() => udpClient(lb.port('game'))));
  t.teardown(() => Promise.all(clients.map((c) => c.close())));
  // Round-robin gives one client each backend; the one on the dead port gets no reply.
  const replies = clients.map((c) => new Promise<Buffer>((r) => c.socket.once('message', r)));
  const live = Promise.race(replies);
  for (const c of clients) c.socket.send('hello');
  t.equal((await live).toString(), 'e:hello', 'the live backend answers');
  for (let i = 0; dead.connectFailures === 0; i++) {
    // ICMP arrives after the datagram; one more datagram gives the error a second chance.
    if (i % 100 === 0) for (const c of clients) c.socket.send('again');
    await new Promise((r) => setImmediate(r));
  }
  t.ok(dead.connectFailures >= 1, `connect failures counted on the dead backend (${dead.connectFailures})`);
  const l = lb.runtime.listeners.get('game') as UdpListener;
  t.equal(l.sessions.size, 2, 'both sessions keep their slots');
});

t.test('an all-interfaces bind (":PORT") serves IPv4 clients, logged without the ::ffff: prefix', async (t) => {
  const echo = await startUdpEcho();
  t.teardown(() => echo.close());
  const toml = udpConfig([echo.port]).replace('bind = "127.0.0.1:0"', 'bind = ":0"\nallow = ["127.0.0.0/8"]');
  const lb = await startLb(t, toml);
  const c = await udpClient(lb.port('game'));
  t.teardown(() => c.close());
  t.equal((await c.request('dual')).toString(), 'dual');
  const l = lb.runtime.listeners.get('game') as UdpListener;
  const s = [...l.sessions.values()][0]!;
  t.equal(s.clientIp, '127.0.0.1', 'the IPv4-mapped source is normalised');
  t.equal(s.clientPort, c.socket.address().port);
  l.sessions.forEach((x) => x.close('idle_timeout'));
  const line = await lb.logs.waitFor({ msg: 'session ended' });
  t.equal(line.client, `127.0.0.1:${c.socket.address().port}`);
});

t.test('sessions closed and reopened in shuffled order while others flow: every reply reaches its own client', async (t) => {
  // Closing sessions frees their upstream sockets and stored client addresses for reuse;
  // the next sessions take them in another order. A reply sent through a stale id would
  // reach the wrong client, and these payloads name their sender.
  const echo = await startUdpEcho();
  t.teardown(() => echo.close());
  const lb = await startLb(t, udpConfig([echo.port], { listener: 'max_connections = 500' }));
  const l = lb.runtime.listeners.get('game') as UdpListener;
  const clients = await Promise.all(Array.from({ length: 60 }, () => udpClient(lb.port('game'))));
  t.teardown(() => Promise.all(clients.map((c) => c.close())));
  let wrong = 0;
  let rounds = 0;
  for (let round = 0; round < 6; round++) {
    const replies = await Promise.all(clients.map((c, i) => c.request(`${i}:${round}:${'x'.repeat(i * 7)}`)));
    replies.forEach((r, i) => {
      if (r.toString() !== `${i}:${round}:${'x'.repeat(i * 7)}`) wrong++;
    });
    rounds++;
    // Close every other session, starting at a different one each round, in a scrambled order.
    const live = [...l.sessions.values()];
    const doomed = live.filter((_, k) => (k + round) % 2 === 0).sort((a, b) => ((a.clientPort * 7919) % 97) - ((b.clientPort * 7919) % 97));
    for (const s of doomed) s.close('idle_timeout');
  }
  t.equal(wrong, 0, `${rounds * clients.length} replies, each to its own client`);
  t.equal(l.sessions.size, clients.length - Math.floor(clients.length / 2), 'the sessions left open after the last round');
  t.ok(l.sessionsTotal > clients.length * 3, `sessions reopened (${l.sessionsTotal} in all)`);
});
