// UDP sessions under a descriptor limit: each session needs its own upstream socket, so a
// flood of new clients can exhaust the process's descriptors (EMFILE). lb must refuse the
// sessions it cannot open (a warning, not a line per datagram), keep serving the ones it has,
// and open new ones again once old ones expire. Runs the built program under `ulimit -n`.
import t from 'tap';
import dgram from 'node:dgram';
import { startUdpEcho } from '../support/udp.js';
import { spawnLb, writeConfig } from '../support/lb-process.js';

const CLIENTS = 100;
const NOFILE = 64; // Node, tap's loader and lb's own descriptors take about 30 of these

for (const datapath of ['native', 'portable'] as const) {
  t.test(`${datapath}: more new clients than descriptors: refused, served, recovered`, async (t) => {
    const echo = await startUdpEcho();
    t.teardown(() => echo.close());
    const file = writeConfig([
      '[global]', 'log_level = "info"', 'drain_timeout = "1s"', `datapath = "${datapath}"`,
      '[listeners.game]', 'protocol = "udp"', 'bind = "127.0.0.1:0"', 'pool = "u"', 'session_timeout = "1s"',
      `[pools.u]\nbackends = [{ address = "127.0.0.1:${echo.port}" }]`,
    ].join('\n'));
    const lb = spawnLb(t, ['run', '-c', file], {}, { nofile: NOFILE });
    const port = await lb.port('game');
    const clients: dgram.Socket[] = [];
    t.teardown(() => clients.forEach((c) => c.close()));
    let answered = 0;
    const replies = new Set<number>();
    for (let i = 0; i < CLIENTS; i++) {
      const c = dgram.createSocket('udp4');
      c.on('message', () => {
        answered++;
        replies.add(i);
      });
      clients.push(c);
      await new Promise<void>((r) => c.bind(0, '127.0.0.1', () => r()));
      c.send(`hello ${i}`, port, '127.0.0.1');
    }
    {
      // Every session that opened ends by expiry with one access line; the others never opened.
      const first = await lb.logs.waitFor({ msg: 'session ended' });
      t.equal(first.end, 'idle_timeout', 'sessions end by expiry');
      const warn = await lb.logs.waitFor({ msg: 'udp session refused: no upstream socket' });
      t.equal(warn.code, 'EMFILE', 'the refusal names EMFILE');
      t.ok(lb.logs.matching({ msg: 'udp session refused: no upstream socket' }).length <= 2, 'said once a second, not per datagram');
    }
    t.ok(answered < CLIENTS, `not every client got a session (${answered} of ${CLIENTS} answered)`);
    t.ok(answered > 0, 'the clients within the limit were served');
    // Once the sessions have expired, descriptors are free again: a new client is served. It
    // asks again every 200 ms, as a UDP client would, until the answer comes.
    const late = dgram.createSocket('udp4');
    clients.push(late);
    const reply = new Promise<Buffer>((r) => late.once('message', r));
    const retry = setInterval(() => late.send('again', port, '127.0.0.1'), 200);
    late.send('again', port, '127.0.0.1');
    const got = await reply;
    clearInterval(retry);
    t.equal(got.toString(), 'again', 'served again after sessions expired');
    lb.child.kill('SIGTERM');
    t.equal(await lb.exited, 0, 'still running, and stops cleanly');
  });
}
