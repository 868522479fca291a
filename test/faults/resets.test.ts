// Resets in all four directions, mid-stream and after a half-close, and backends that reset
// right after accepting, on both data paths. The contract (SPEC, Data path and faults): a
// reset or socket error on one side reaches the other as a reset, also after either side
// half-closed; a FIN only for a clean end; once one side is gone and nothing is left to
// deliver the session ends at once (idle_timeout is 1 h here: a session that waited for it
// would hang the test); `end` names the side that reset.
import t from 'tap';
import net, { type Socket } from 'node:net';
import { once } from 'node:events';
import { startServer, connect, collect } from '../support/backends.js';
import { startLb, simpleConfig } from '../support/lb.js';
import { randomPayload } from '../support/random.js';
import { pathsHere } from '../support/datapaths.js';

/** How a socket ended: 'reset' (ECONNRESET or EPIPE), 'fin' (a clean end), or the error code. */
function endOf(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNRESET' || e.code === 'EPIPE' ? 'reset' : e.code ?? 'error'));
    s.on('end', () => resolve('fin'));
  });
}

/** A write after the peer reset fails: the error it gets ('reset' for ECONNRESET/EPIPE). */
async function writeFails(s: Socket): Promise<string> {
  const failed = new Promise<string>((resolve) => s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNRESET' || e.code === 'EPIPE' ? 'reset' : e.code ?? 'error')));
  // The first write after an RST may still be taken by the kernel; the next one fails.
  const writeOn = (): void => {
    if (s.destroyed) return;
    s.write('x', () => setImmediate(writeOn));
  };
  writeOn();
  return failed;
}

const IDLE = 'idle_timeout = "1h"';

for (const datapath of pathsHere()) {
  const global = `datapath = "${datapath}"`;

  t.test(`${datapath}: client half-closes, then resets while the backend streams: the backend is reset`, async (t) => {
    let backend!: Socket;
    let seen!: Promise<string>;
    const srv = await startServer((s) => {
      backend = s;
      seen = endOf(s).then(async (how) => (how === 'fin' ? writeFails(s) : how));
      s.resume();
    });
    t.teardown(() => srv.close());
    const lb = await startLb(t, simpleConfig([srv.port], { global, listener: IDLE }));
    const c = await connect(lb.port('front'));
    c.on('error', () => {});
    c.write('hello');
    while (srv.sockets.size === 0) await new Promise((r) => setImmediate(r));
    // The backend streams toward the client for the rest of the test.
    const stream = setInterval(() => backend.writable && backend.write(randomPayload(1024)), 5);
    t.teardown(() => clearInterval(stream));
    c.end();
    await once(c, 'finish');
    c.resetAndDestroy();
    t.equal(await seen, 'reset', 'the backend sees a reset, not a clean end');
    const line = await lb.logs.waitFor({ msg: 'session ended' });
    t.equal(line.end, 'client_reset');
  });

  t.test(`${datapath}: backend half-closes, then resets while the client streams: the client is reset`, async (t) => {
    const srv = await startServer((s) => {
      s.resume();
      s.end('bye', () => setTimeout(() => s.resetAndDestroy(), 20));
    });
    t.teardown(() => srv.close());
    const lb = await startLb(t, simpleConfig([srv.port], { global, listener: IDLE }));
    const c = await connect(lb.port('front'));
    const how = endOf(c);
    const stream = setInterval(() => c.writable && c.write(randomPayload(1024)), 2);
    t.teardown(() => clearInterval(stream));
    const first = await how;
    const result = first === 'fin' ? await writeFails(c) : first;
    t.equal(result, 'reset', 'the client sees a reset after the FIN, not a clean end');
    const line = await lb.logs.waitFor({ msg: 'session ended' });
    t.equal(line.end, 'backend_reset');
  });

  t.test(`${datapath}: client FIN then reset, backend silent: the session ends at once and the backend is reset`, async (t) => {
    let seen!: Promise<string>;
    const srv = await startServer((s) => {
      seen = endOf(s).then((how) => (how === 'fin' ? writeFails(s) : how));
      s.resume();
    });
    t.teardown(() => srv.close());
    const lb = await startLb(t, simpleConfig([srv.port], { global, listener: IDLE }));
    const c = await connect(lb.port('front'));
    c.on('error', () => {});
    c.write('request');
    while (srv.sockets.size === 0) await new Promise((r) => setImmediate(r));
    c.end();
    await once(c, 'finish');
    // lb has passed the FIN on once the backend saw it.
    while (seen === undefined) await new Promise((r) => setImmediate(r));
    c.resetAndDestroy();
    const line = await lb.logs.waitFor({ msg: 'session ended' });
    t.equal(line.end, 'client_reset', 'ended by the reset, not by idle_timeout');
    t.equal(await seen, 'reset', 'the backend is reset');
  });

  t.test(`${datapath}: backend FIN then reset, client silent: the session ends at once and the client is reset`, async (t) => {
    const srv = await startServer((s) => {
      s.end('bye', () => setTimeout(() => s.resetAndDestroy(), 20));
    });
    t.teardown(() => srv.close());
    const lb = await startLb(t, simpleConfig([srv.port], { global, listener: IDLE }));
    const c = await connect(lb.port('front'));
    c.on('error', () => {});
    let data = '';
    c.on('data', (d: Buffer) => (data += d.toString()));
    await once(c, 'end');
    t.equal(data, 'bye', 'the bytes before the FIN arrive');
    const line = await lb.logs.waitFor({ msg: 'session ended' });
    t.equal(line.end, 'backend_reset', 'ended by the reset (EPIPE or ECONNRESET), not by idle_timeout');
    t.match(line.detail, /^(ECONNRESET|EPIPE)$/);
    t.equal(await writeFails(c), 'reset', 'the client is reset');
  });

  t.test(`${datapath}: a backend that resets right after accepting is retried elsewhere`, async (t) => {
    const rst = await startServer((s) => s.resetAndDestroy());
    let arrived = (): void => {};
    const echo = await startServer((s) => {
      arrived();
      s.pipe(s);
    });
    t.teardown(() => Promise.all([rst.close(), echo.close()]));
    const lb = await startLb(t, simpleConfig([rst.port, echo.port], { global, pool: 'algorithm = "round-robin"\nretries = 1' }));
    for (let i = 0; i < 10; i++) {
      // The client writes once its session reached the echo backend: bytes sent to the
      // resetting one would have been passed to it, and then a reset is the only honest end.
      const reached = new Promise<void>((r) => (arrived = r));
      const c = await connect(lb.port('front'));
      const got = collect(c);
      await reached;
      c.end(`ping ${i}`);
      const { data, error } = await got;
      t.equal(error, null);
      t.equal(data.toString(), `ping ${i}`, `client ${i} served by the echo backend`);
    }
    const lines = lb.logs.matching({ msg: 'session ended' });
    t.ok(lines.every((l) => l.end === 'client_closed' && l.backend === `127.0.0.1:${echo.port}`), 'all served by the echo backend');
    t.ok(lb.runtime.pools.get('p')!.get(`127.0.0.1:${rst.port}`)!.connectFailures >= 1, 'the resets count against that backend');
  });

  t.test(`${datapath}: a backend that resets right after accepting, nowhere else to go: the client is reset`, async (t) => {
    const rst = await startServer((s) => s.resetAndDestroy());
    t.teardown(() => rst.close());
    const lb = await startLb(t, simpleConfig([rst.port], { global, pool: 'retries = 0' }));
    const c = await connect(lb.port('front'));
    const how = endOf(c);
    t.equal(await how, 'reset', 'a reset, never a clean FIN with 0 bytes');
    const line = await lb.logs.waitFor({ msg: 'session ended' });
    t.equal(line.end, 'connect_failed');
    t.equal(line.detail, 'ECONNRESET');
  });

  t.test(`${datapath}: a refused connect resets the client`, async (t) => {
    const dead = net.createServer();
    dead.listen(0, '127.0.0.1');
    await once(dead, 'listening');
    const port = (dead.address() as net.AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const lb = await startLb(t, simpleConfig([port], { global, pool: 'retries = 0' }));
    const c = await connect(lb.port('front'));
    t.equal(await endOf(c), 'reset');
    const line = await lb.logs.waitFor({ msg: 'session ended' });
    t.equal(line.end, 'connect_failed');
    t.equal(line.detail, 'ECONNREFUSED');
  });
}
