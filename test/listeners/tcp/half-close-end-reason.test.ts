// Regression (found in review): after a half-close (one FIN), a session that is then ended by lb itself (idle
// timeout, shutdown) is logged with the FIN's reason instead of the cause that ended it.
// tcp-session.ts onClientEnd/onUpstreamEnd set `reason` on the first FIN, and finish()
// only does `reason ??= ...`, so the later, actual cause is dropped.
import t from 'tap';
import { once } from 'node:events';
import { startServer, connect, collect } from '../../support/backends.js';
import { startLb, simpleConfig } from '../../support/lb.js';

t.test('client half-closes, backend never answers: the idle timeout is what ends it', async (t) => {
  // Reads the request, never answers and never ends its side (a slow query, say).
  let sawEnd!: () => void;
  const backendSawFin = new Promise<void>((r) => (sawEnd = r));
  const srv = await startServer((s) => {
    s.resume();
    s.on('end', () => sawEnd());
  });
  t.teardown(() => srv.close());
  const lb = await startLb(t, simpleConfig([srv.port], { listener: 'idle_timeout = "150ms"' }));
  const c = await connect(lb.port('front'));
  const got = collect(c);
  c.end('request'); // like `nc -N`: send, shut down the write side, wait for the answer
  await backendSawFin;
  await got; // lb cuts the client off when the idle timeout fires
  const line = await lb.logs.waitFor({ msg: 'session ended' });
  t.ok((line.duration_ms as number) >= 140, `ended after ${line.duration_ms} ms, by the idle timer`);
  t.equal(line.end, 'idle_timeout', 'the idle timeout ended the session, not the client');
});

t.test('client half-closes, then shutdown closes the session: logged as shutdown', async (t) => {
  let sawEnd!: () => void;
  const backendSawFin = new Promise<void>((r) => (sawEnd = r));
  const srv = await startServer((s) => {
    s.write('streaming a long answer...');
    s.resume();
    s.on('end', () => sawEnd());
  });
  t.teardown(() => srv.close());
  const lb = await startLb(t, simpleConfig([srv.port]));
  const c = await connect(lb.port('front'));
  const got = collect(c);
  await once(c, 'data');
  c.end('request');
  await backendSawFin;
  await lb.runtime.stop(0); // SIGTERM with drain over: lb closes what is left
  await got;
  const line = await lb.logs.waitFor({ msg: 'session ended' });
  t.equal(line.end, 'shutdown', 'lb closed it at shutdown; the client was still waiting for the answer');
});
