import t from 'tap';
import { once } from 'node:events';
import net from 'node:net';
import { startServer, echoServer, connect, collect } from '../support/backends.js';
import { startBlackhole } from '../support/blackhole.js';
import { startLb, simpleConfig } from '../support/lb.js';
import type { TcpListener } from '../../src/listeners/tcp/tcp-listener.js';

t.test('client RST during dial', async (t) => {
  const hole = await startBlackhole();
  t.teardown(() => hole.close());
  let seen!: (x: string) => void; const p = new Promise<string>((r) => (seen = r));
  const srv = await startServer((s) => { t.comment('backend accepted'); let d = ''; s.on('data', (c) => (d += c)); s.on('error', (e: any) => seen('err ' + e.code + ' ' + d)); s.on('close', () => seen('close ' + d)); });
  t.teardown(() => srv.close());
  const lb = await startLb(t, simpleConfig([hole.port, srv.port], { listener: 'connect_timeout = "200ms"', pool: 'algorithm = "round-robin"\nretries = 1' }));
  const s = await connect(lb.port('front'));
  s.on('error', (e) => t.comment('client err', e.message));
  s.write('early');
  await new Promise((r) => setTimeout(r, 20));
  s.resetAndDestroy();
  t.comment('reset sent');
  const to = setTimeout(() => { t.comment('STUCK', JSON.stringify(lb.logs.lines.map(l => l.msg + ' ' + (l.code ?? '') + (l.end ?? '')))); const l = lb.runtime.listeners.get('front') as TcpListener; const ss = [...l.sessions][0] as any; t.comment('sessions', l.sessions.size, ss && JSON.stringify({c: ss.connected, d: ss.done, cc: ss.clientClosed, uc: ss.upstreamClosed, r: ss.reason, cd: ss.client.destroyed, up: !!ss.upstream, upd: ss.upstream?.destroyed, upc: ss.upstream?.connecting, paused: ss.client.isPaused(), flowing: ss.client.readableFlowing, reading: ss.client._handle?.reading})); }, 3000);
  t.comment(await p);
  const line = await lb.logs.waitFor({ msg: 'session ended' });
  clearTimeout(to);
  t.comment(JSON.stringify(line));
});
