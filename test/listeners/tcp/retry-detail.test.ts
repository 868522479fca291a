// Regression (found in review): connectFailed() stores the failed attempt's errno in `detail`, and nothing clears
// it when a retry connects. The session then ends normally but its access line carries the
// stale errno (end=client_closed detail=ECONNREFUSED), and because finish/onClientError use
// `detail ??=`, the real cause of a later reset (ECONNRESET) is hidden behind it.
import t from 'tap';
import { once } from 'node:events';
import { echoServer, deadPort, startServer, connect, collect } from '../../support/backends.js';
import { startLb, simpleConfig } from '../../support/lb.js';

// least-connections with no sessions yet picks the first backend in config order (ties go to
// the earlier one), so the dead port is always tried first and the retry lands on the live one.
const POOL = 'algorithm = "least-connections"\nretries = 1';

t.test('a retried session that ends normally has no stale connect errno', async (t) => {
  const dead = await deadPort();
  const echo = await echoServer();
  t.teardown(() => echo.close());
  const lb = await startLb(t, simpleConfig([dead, echo.port], { pool: POOL }));
  const s = await connect(lb.port('front'));
  const got = collect(s);
  s.end('ping');
  t.equal((await got).data.toString(), 'ping');
  const line = await lb.logs.waitFor({ msg: 'session ended' });
  t.equal(lb.runtime.pools.get('p')!.get(`127.0.0.1:${dead}`)!.connectFailures, 1, 'the dead backend was tried first');
  t.equal(line.end, 'client_closed');
  t.equal(line.detail, undefined, 'no detail for a clean end');
});

t.test('a retried session later reset by the client logs ECONNRESET', async (t) => {
  const dead = await deadPort();
  const srv = await startServer((s) => {
    s.write('hi');
    s.resume();
  });
  t.teardown(() => srv.close());
  const lb = await startLb(t, simpleConfig([dead, srv.port], { pool: POOL }));
  const s = await connect(lb.port('front'));
  await once(s, 'data');
  s.resetAndDestroy();
  const line = await lb.logs.waitFor({ msg: 'session ended' });
  t.equal(line.end, 'client_reset');
  t.equal(line.detail, 'ECONNRESET');
});
