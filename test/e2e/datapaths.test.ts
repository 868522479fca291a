// The data paths through the built program ([global] datapath): `native` (TCP through lb's
// relay addon, native/tcp_relay.cc; UDP through its batched addon, native/udp_batch.cc),
// `portable` (node:net and node:dgram only) and `auto` (native where the addons loaded).
// Each listener says in its 'listening' line which path it runs on; the test checks that it
// is the one asked for, and that a build without the addons says why native is not in use.
import t from 'tap';
import { once } from 'node:events';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { echoServer, startServer, connect, collect } from '../support/backends.js';
import { spawnLb, writeConfig, LB_BIN } from '../support/lb-process.js';
import { startUdpEcho, udpClient } from '../support/udp.js';
import { randomPayload, sha256 } from '../support/random.js';

const built = existsSync(new URL('../../build/Release/udp_batch.node', import.meta.url)) && existsSync(new URL('../../build/Release/tcp_relay.node', import.meta.url));
const variants = [
  { name: 'auto', datapath: 'auto', tcp: built ? 'native' : 'portable', udp: built ? 'native' : 'portable' },
  ...(built ? [{ name: 'native', datapath: 'native', tcp: 'native', udp: 'native' }] : []),
  { name: 'portable', datapath: 'portable', tcp: 'portable', udp: 'portable' },
] as const;

if (!built) t.comment('build/Release/*.node are missing (npm ci prints why): auto runs on the portable path');

for (const { name, datapath, tcp, udp } of variants) {
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
      '[global]', 'drain_timeout = "1s"', `datapath = "${datapath}"`, // the UDP session is open at SIGTERM
      '[listeners.echo]', 'bind = "127.0.0.1:0"', 'pool = "echo"',
      '[listeners.count]', 'bind = "127.0.0.1:0"', 'pool = "count"',
      '[listeners.game]', 'protocol = "udp"', 'bind = "127.0.0.1:0"', 'pool = "u"',
      `[pools.echo]\nbackends = [{ address = "127.0.0.1:${echo.port}" }]`,
      `[pools.count]\nbackends = [{ address = "127.0.0.1:${counter.port}" }]`,
      `[pools.u]\nbackends = [{ address = "127.0.0.1:${uecho.port}" }]`,
    ].join('\n'));
    const lb = spawnLb(t, ['run', '-c', file]);
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
    t.equal(line.end, 'client_reset', 'a client reset is logged as such');

    const c = await udpClient(up);
    t.teardown(() => c.close());
    t.equal((await c.request('ping')).toString(), 'u:ping');
    lb.child.kill('SIGTERM');
    t.equal(await lb.exited, 0);
  });
}

t.test('a copy of lb without its addons: native wanted, portable used, and why', async (t) => {
  // bin/ and dist/ of this checkout beside its node_modules, but no build/ directory.
  const root = join(LB_BIN, '..', '..');
  const dir = mkdtempSync(join(tmpdir(), 'lb-noaddon-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(root, 'bin'), join(dir, 'bin'), { recursive: true });
  cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true });
  cpSync(join(root, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const echo = await echoServer();
  t.teardown(() => echo.close());
  const file = writeConfig([
    '[global]', 'datapath = "native"',
    '[listeners.echo]', 'bind = "127.0.0.1:0"', 'pool = "echo"',
    `[pools.echo]\nbackends = [{ address = "127.0.0.1:${echo.port}" }]`,
  ].join('\n'));
  const lb = spawnLb(t, ['run', '-c', file], {}, { bin: join(dir, 'bin', 'lb') });
  const warn = await lb.logs.waitFor({ msg: 'native data path wanted but not loaded' });
  t.equal(warn.level, 40, 'a warning');
  const line = await lb.logs.waitFor({ msg: 'listening', listener: 'echo' });
  t.equal(line.datapath, 'portable', 'the listener runs on the portable path');
  t.match(String(line.reason), /^build missing: build\/Release\/tcp_relay\.node/, 'and says why');
  const s = await connect(await lb.port('echo'));
  const got = collect(s);
  s.end('still served');
  t.equal((await got).data.toString(), 'still served');
  lb.child.kill('SIGTERM');
  t.equal(await lb.exited, 0);
});
