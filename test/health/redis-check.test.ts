// The Redis health check against real redis-server processes: PING without and with a
// password (requirepass, and an ACL user), a wrong password, ROLE on a primary and on a
// replica (REPLICAOF) with the role a pool wants, INFO-based utilization, and a clean end
// (QUIT, then the server's FIN: the connection count goes back to where it was).
import t from 'tap';
import { converse } from '../../src/health/conversation.js';
import { redisDialogue, readValue, type RedisCheck } from '../../src/health/checks/redis.js';
import { haveRedis, startRedis } from '../support/redis.js';
import fc from 'fast-check';

const target = (port: number) => ({ host: '127.0.0.1', port, timeoutMs: 2000 });
const check = (over: Partial<RedisCheck> = {}): RedisCheck => ({ wantRole: 'any', load: false, ...over });

t.test('RESP reader: never throws anything but Error, never reads past the input', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const b = Buffer.from(bytes);
      try {
        const r = readValue(b, 0);
        if (r !== null && r.end > b.length) return false;
      } catch (err) {
        if (!(err instanceof Error)) return false;
      }
      return true;
    }),
    { numRuns: 2000 },
  );
  t.same(readValue(Buffer.from('*2\r\n$6\r\nmaster\r\n:5\r\n'), 0), { value: ['master', 5], end: 20 });
  t.equal(readValue(Buffer.from('$6\r\nmas'), 0), null, 'a bulk string cut short needs more');
});

if (!haveRedis()) {
  t.plan(1, 'redis-server not installed (apt-get install redis-server redis-tools)');
} else {
  const primary = await startRedis(['--requirepass', 'hunter2', '--maxclients', '200']);
  t.teardown(() => primary.close());
  const replica = await startRedis(['--replicaof', '127.0.0.1', String(primary.port), '--masterauth', 'hunter2']);
  t.teardown(() => replica.close());

  t.test('PING, with and without the password the server wants', async (t) => {
    const noPass = await converse(target(primary.port), redisDialogue(check()));
    t.equal(noPass.ok, false);
    t.match(noPass.detail, /NOAUTH/);
    const wrong = await converse(target(primary.port), redisDialogue(check({ password: 'wrong' })));
    t.equal(wrong.ok, false);
    t.match(wrong.detail, /^auth failed: /);
    t.notMatch(wrong.detail, /wrong/, 'the password is not in the detail');
    const good = await converse(target(primary.port), redisDialogue(check({ password: 'hunter2' })));
    t.same([good.ok, good.detail], [true, 'ok']);
  });

  t.test('ROLE: primary and replica, against the role the pool wants', async (t) => {
    const p = await converse(target(primary.port), redisDialogue(check({ password: 'hunter2', wantRole: 'primary' })));
    t.same([p.ok, p.detail, p.role], [true, 'ok (primary)', 'primary']);
    const r = await converse(target(replica.port), redisDialogue(check({ wantRole: 'primary' })));
    t.same([r.ok, r.detail, r.role], [false, 'role replica, want primary', 'replica']);
    const r2 = await converse(target(replica.port), redisDialogue(check({ wantRole: 'replica' })));
    t.same([r2.ok, r2.role], [true, 'replica']);
  });

  t.test('ACL user', async (t) => {
    const acl = await startRedis([]);
    t.teardown(() => acl.close());
    const setup = await converse(target(acl.port), {
      hello: Buffer.from('*6\r\n$3\r\nACL\r\n$7\r\nSETUSER\r\n$8\r\nlb_check\r\n$2\r\non\r\n$9\r\n>s3cret!!\r\n$5\r\n+ping\r\n'),
      goodbye: Buffer.from('QUIT\r\n'),
      step: (b) => (b.includes('\r\n') ? { ok: b.toString().startsWith('+OK'), detail: b.toString().trim() } : null),
    });
    t.equal(setup.ok, true, setup.detail);
    const ok = await converse(target(acl.port), redisDialogue(check({ user: 'lb_check', password: 's3cret!!' })));
    t.same([ok.ok, ok.detail], [true, 'ok']);
    // ROLE is not in this user's ACL: the check fails with the server's reason.
    const role = await converse(target(acl.port), redisDialogue(check({ user: 'lb_check', password: 's3cret!!', wantRole: 'primary' })));
    t.equal(role.ok, false);
    t.match(role.detail, /NOPERM|permission/i);
  });

  t.test('utilization is connected_clients / maxclients', async (t) => {
    const r = await converse(target(primary.port), redisDialogue(check({ password: 'hunter2', load: true })));
    t.equal(r.ok, true, r.detail);
    t.ok(r.utilization !== undefined && r.utilization > 0 && r.utilization < 0.1, `utilization ${r.utilization}`);
  });

  t.test('hundreds of checks leave no connection behind', async (t) => {
    const clients = async (): Promise<number> => {
      let n = -1;
      await converse(target(primary.port), {
        hello: Buffer.from('*2\r\n$4\r\nAUTH\r\n$7\r\nhunter2\r\n*2\r\n$4\r\nINFO\r\n$7\r\nclients\r\n'),
        goodbye: Buffer.from('*1\r\n$4\r\nQUIT\r\n'),
        step: (b) => {
          const m = /connected_clients:(\d+)/.exec(b.toString());
          if (m === null || !b.toString().endsWith('\r\n')) return null;
          n = Number(m[1]);
          return { ok: true, detail: 'ok' };
        },
      });
      return n;
    };
    const before = await clients();
    for (let i = 0; i < 20; i++) {
      await Promise.all(Array.from({ length: 10 }, () => converse(target(primary.port), redisDialogue(check({ password: 'hunter2', wantRole: 'primary' })))));
    }
    // QUIT makes the server close each connection; wait until it has seen every FIN.
    let after = await clients();
    for (let i = 0; i < 100 && after > before; i++) {
      await new Promise((r) => setTimeout(r, 20));
      after = await clients();
    }
    t.equal(after, before, `connected_clients ${before} before, ${after} after 200 checks`);
  });

  t.test('timeout: a server that never answers', async (t) => {
    const net = await import('node:net');
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    t.teardown(() => silent.close());
    const port = (silent.address() as { port: number }).port;
    const r = await converse({ host: '127.0.0.1', port, timeoutMs: 150 }, redisDialogue(check()));
    t.same([r.ok, r.detail], [false, 'timeout']);
  });
}
