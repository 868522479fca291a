// Regression (found in review): the idle timer lives on the client socket only. Once the client socket has
// closed normally (its FIN read, lb's FIN to it flushed) while the upstream still has
// bytes it cannot flush (backend half-closed and not reading), nothing ever ends the
// session: no timer is left, onClientClose waits for an upstream 'close' that never
// comes. The session, its global slot and the backend's `active` leak forever and no
// access line is written, although no byte moves either way (SPEC: idle_timeout closes
// both sides).
import t from 'tap';
import { once } from 'node:events';
import { startServer, connect } from '../../support/backends.js';
import { startLb, simpleConfig } from '../../support/lb.js';
import type { TcpListener } from '../../../src/listeners/tcp/tcp-listener.js';

const IDLE_MS = 200;
/** How long past the idle timeout we accept before calling it a hang. */
const GRACE_MS = 3000;

t.test('client gone, upstream stuck: the session still ends by idle timeout', async (t) => {
  // The backend says goodbye, ends its side, and never reads again.
  const srv = await startServer((s) => {
    s.pause();
    s.end('bye');
  });
  t.teardown(() => srv.close());
  const lb = await startLb(t, simpleConfig([srv.port], { listener: `idle_timeout = "${IDLE_MS}ms"` }));
  const c = await connect(lb.port('front'));
  c.on('error', () => {});
  const [bye] = (await once(c, 'data')) as [Buffer];
  t.equal(bye.toString(), 'bye');
  await once(c, 'end');

  const listener = lb.runtime.listeners.get('front') as TcpListener;
  const session = [...listener.sessions][0]!;
  t.ok(session.isEstablished);

  // Fill the path to the backend with 8 KiB writes until lb's upstream write queue is
  // non-empty: the kernel buffers are full, and lb's queue holds at most 8 KiB, below the
  // 16 KiB high-water mark, so lb has not paused the client.
  const chunk = Buffer.alloc(8192, 0x61);
  // lb's own byte counter says when it has read what we sent (reads bypass 'data' events).
  let target = 0;
  for (;;) {
    target += chunk.length;
    c.write(chunk);
    while (session.bytesIn < target) await new Promise((r) => setImmediate(r));
    if (session.queuedToUpstream > 0) break;
  }
  t.ok(session.readingClient, 'lb still reads the client');
  const pending = session.queuedToUpstream;
  t.ok(pending > 0 && pending <= 8192, `lb holds ${pending} bytes for the backend`);

  // The client ends its side: lb passes the FIN on (queued behind the pending bytes),
  // and lb is done with the client side.
  c.end();
  while (!session.clientFinished) await new Promise((r) => setTimeout(r, 1));

  // Now nothing moves either way. The session must end by idle timeout.
  let timer: NodeJS.Timeout | undefined;
  const line = await Promise.race([
    lb.logs.waitFor({ msg: 'session ended' }),
    new Promise<null>((r) => (timer = setTimeout(() => r(null), IDLE_MS + GRACE_MS))),
  ]);
  clearTimeout(timer);
  const backend = lb.runtime.pools.get('p')!.backends[0]!;
  t.not(
    line,
    null,
    `no access line ${IDLE_MS + GRACE_MS} ms after the client left (idle_timeout ${IDLE_MS} ms); ` +
      `sessions=${listener.sessions.size} budget.active=${lb.runtime.budget.active} backend.active=${backend.active}`,
  );
  if (line !== null) t.equal(line.end, 'idle_timeout');
});
