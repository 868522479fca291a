// The data paths lb can run on, each through the built program: by default TCP through lb's
// relay addon (native/tcp_relay.cc) and UDP through its batched addon (native/udp_batch.cc,
// recvmmsg/sendmmsg); with LB_TCP_NATIVE=0 TCP sessions moved from JavaScript on bare libuv
// handles (tcp_wrap/stream_wrap); with LB_UDP_BATCH=0 UDP on dgram's handle
// (udp_wrap); with LB_TCP_SOCKETS=1 and LB_UDP_DGRAM=1 the fallbacks for a Node without those
// handles: net.Socket sessions and dgram's own send()/'message'. Each listener says in its
// 'listening' line which path it runs on, and the test checks that it is the one asked for.
import t from 'tap';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { echoServer, startServer, connect, collect } from '../support/backends.js';
import { spawnLb, writeConfig } from '../support/lb-process.js';
import { startUdpEcho, udpClient } from '../support/udp.js';
import { randomPayload, sha256 } from '../support/random.js';

const addonBuilt = existsSync(new URL('../../build/Release/udp_batch.node', import.meta.url));
// The relay is on by default when it was built, unless the environment of the whole run
// turns it off (the suite is also run with LB_TCP_NATIVE=0).
const relayBuilt = existsSync(new URL('../../build/Release/tcp_relay.node', import.meta.url)) && process.env['LB_TCP_NATIVE'] !== '0';
const variants = [
  { name: 'default', env: {}, tcp: relayBuilt ? 'native' : 'handles', udp: addonBuilt ? 'batch' : 'handles' },
  { name: 'TCP and UDP on libuv handles', env: { LB_TCP_NATIVE: '0', LB_UDP_BATCH: '0' }, tcp: 'handles', udp: 'handles' },
  { name: 'fallback', env: { LB_TCP_SOCKETS: '1', LB_UDP_DGRAM: '1' }, tcp: 'sockets', udp: 'dgram' },
] as const;

if (!addonBuilt) t.comment('build/Release/udp_batch.node is missing (npm ci prints why): the default variant runs UDP on dgram handles');
if (!relayBuilt) t.comment('build/Release/tcp_relay.node is missing (npm ci prints why): the default variant runs TCP on libuv handles');

for (const { name, env, tcp, udp } of variants) {
  t.test(`${name}: TCP stream, half-close, reset; UDP round trip`, async (t) => {
    const echo = await echoServer();
    // Reads until the client's FIN, then answers with the count (like nc -N).
    const counter = await startServer((s) => {
      let n = 0;
      s.on('data', (d: Buffer) => (n += d.length));
      s.on('end', () => s.end(`count=${n}`));
    });
    const uecho = await startUdpEcho({ id: 'u' });
    t.teardown(() => Promise.all([echo.close(), counter.close(), uecho.close()]));
    const file = writeConfig([
      '[global]', 'drain_timeout = "1s"', // the UDP session is open at SIGTERM
      '[listeners.echo]', 'bind = "127.0.0.1:0"', 'pool = "echo"',
      '[listeners.count]', 'bind = "127.0.0.1:0"', 'pool = "count"',
      '[listeners.game]', 'protocol = "udp"', 'bind = "127.0.0.1:0"', 'pool = "u"',
      `[pools.echo]\nbackends = [{ address = "127.0.0.1:${echo.port}" }]`,
      `[pools.count]\nbackends = [{ address = "127.0.0.1:${counter.port}" }]`,
      `[pools.u]\nbackends = [{ address = "127.0.0.1:${uecho.port}" }]`,
    ].join('\n'));
    const lb = spawnLb(t, ['run', '-c', file], env);
    const [ep, cp, up] = await Promise.all([lb.port('echo'), lb.port('count'), lb.port('game')]);
    const paths = await Promise.all(['echo', 'game'].map((l) => lb.logs.waitFor({ msg: 'listening', listener: l })));
    t.equal(paths[0]!.datapath, tcp, `TCP listener on ${tcp}`);
    t.equal(paths[1]!.datapath, udp, `UDP listener on ${udp}`);

    const payload = randomPayload(8 * 1024 * 1024);
    const s = await connect(ep, '127.0.0.1', false);
    const got = collect(s);
    s.end(payload);
    t.equal(sha256((await got).data), sha256(payload), '8 MiB echoed byte for byte');

    const h = await connect(cp);
    const answer = collect(h);
    h.end(Buffer.alloc(100_000, 1));
    t.equal((await answer).data.toString(), 'count=100000', 'FIN passed on; the answer still arrives');

    const r = await connect(ep);
    r.on('error', () => {});
    r.write('x');
    await once(r, 'data');
    r.resetAndDestroy();
    const line = await lb.logs.waitFor({ msg: 'session ended', detail: 'ECONNRESET' });
    t.equal(line.end, 'client_closed', 'a client reset is logged as such');

    const c = await udpClient(up);
    t.teardown(() => c.close());
    t.equal((await c.request('ping')).toString(), 'u:ping');
    lb.child.kill('SIGTERM');
    t.equal(await lb.exited, 0);
  });
}
