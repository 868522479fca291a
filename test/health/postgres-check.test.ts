// The PostgreSQL health check against real servers: trust, md5 and SCRAM-SHA-256 users (and
// wrong passwords), the role on a primary and on a streaming replica (pg_basebackup -R),
// which follows a promotion; utilization from pg_stat_activity / max_connections; and the
// server log after hundreds of checks: a disconnection line for every connection, never an
// aborted one.
import t from 'tap';
import net from 'node:net';
import { converse } from '../../src/health/conversation.js';
import { postgresDialogue, type PostgresCheck } from '../../src/health/checks/postgres.js';
import { havePostgres, startPostgres } from '../support/postgres.js';

const target = (port: number) => ({ host: '127.0.0.1', port, timeoutMs: 3000 });
const check = (over: Partial<PostgresCheck> = {}): PostgresCheck => ({ user: 'postgres', database: 'postgres', wantRole: 'any', load: false, ...over });

if (!havePostgres()) {
  t.plan(0, 'PostgreSQL not installed (apt-get install postgresql)');
} else {
  const primary = await startPostgres({
    hba: ['host all lb_scram 127.0.0.1/32 scram-sha-256', 'host all lb_md5 127.0.0.1/32 md5', 'host all lb_plain 127.0.0.1/32 password'],
  });
  t.teardown(() => primary.close());
  primary.sql("SET password_encryption = 'scram-sha-256'; CREATE ROLE lb_scram LOGIN PASSWORD 'sc r@m-pw'; CREATE ROLE lb_plain LOGIN PASSWORD 'plain-pw'");
  primary.sql("SET password_encryption = 'md5'; CREATE ROLE lb_md5 LOGIN PASSWORD 'md5-pw'");
  const replica = await startPostgres({ replicaOf: primary });
  t.teardown(() => replica.close());

  t.test('trust, cleartext, md5 and SCRAM-SHA-256 logins; wrong and missing passwords fail with the server reason', async (t) => {
    const cases: [Partial<PostgresCheck>, boolean, RegExp][] = [
      [{}, true, /^ok \(primary\)$/],
      [{ user: 'lb_scram', password: 'sc r@m-pw' }, true, /^ok/],
      [{ user: 'lb_md5', password: 'md5-pw' }, true, /^ok/],
      [{ user: 'lb_plain', password: 'plain-pw' }, true, /^ok/],
      [{ user: 'lb_scram', password: 'nope' }, false, /FATAL: password authentication failed for user "lb_scram" \(28P01\)/],
      [{ user: 'lb_md5', password: 'nope' }, false, /28P01/],
      [{ user: 'lb_scram' }, false, /none is configured/],
      [{ user: 'nobody' }, false, /role "nobody" does not exist/],
      [{ database: 'nodb' }, false, /database "nodb" does not exist/],
    ];
    for (const [over, ok, detail] of cases) {
      const r = await converse(target(primary.port), postgresDialogue(check(over)));
      t.equal(r.ok, ok, `${JSON.stringify(over)}: ${r.detail}`);
      t.match(r.detail, detail);
      if (over.password !== undefined) t.notOk(r.detail.includes(over.password), 'the password is not in the detail');
    }
  });

  t.test('role: primary and replica; a promoted replica reports primary', async (t) => {
    const p = await converse(target(primary.port), postgresDialogue(check({ wantRole: 'primary' })));
    t.same([p.ok, p.role], [true, 'primary']);
    const r = await converse(target(replica.port), postgresDialogue(check({ wantRole: 'primary' })));
    t.same([r.ok, r.detail, r.role], [false, 'role replica, want primary', 'replica']);
    t.equal((await converse(target(replica.port), postgresDialogue(check({ wantRole: 'replica' })))).ok, true);
    replica.sql('SELECT pg_promote(true, 30)');
    const after = await converse(target(replica.port), postgresDialogue(check({ wantRole: 'primary' })));
    t.same([after.ok, after.role], [true, 'primary'], after.detail);
  });

  t.test('utilization: client backends over max_connections', async (t) => {
    const r = await converse(target(primary.port), postgresDialogue(check({ load: true })));
    t.equal(r.ok, true, r.detail);
    // max_connections = 50; the check's own backend is one of them.
    t.ok(r.utilization !== undefined && r.utilization >= 1 / 50 && r.utilization < 0.5, `utilization ${r.utilization}`);
  });

  t.test('200 checks: every connection ends with a disconnection line, none aborted; the client count stays flat', async (t) => {
    const count = (): number => Number(primary.sql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"));
    const before = count();
    const logStart = primary.log().length;
    for (let i = 0; i < 20; i++) {
      const rs = await Promise.all(Array.from({ length: 10 }, () => converse(target(primary.port), postgresDialogue(check({ user: 'lb_scram', password: 'sc r@m-pw' })))));
      t.ok(rs.every((r) => r.ok), 'all pass');
    }
    // Each backend process logs its disconnection as it exits; wait for all 200.
    let log = '';
    for (let i = 0; i < 200; i++) {
      log = primary.log().slice(logStart);
      if ((log.match(/disconnection: session time/g) ?? []).length >= 200) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    t.equal((log.match(/connection authorized: user=lb_scram/g) ?? []).length, 200, 'authorized 200 times');
    t.equal((log.match(/disconnection: session time/g) ?? []).length, 200, '200 disconnection lines');
    t.notMatch(log, /could not receive data|unexpected EOF|incomplete startup packet|connection reset/i, 'no aborted connection in the server log');
    t.equal(count(), before, 'client backends back to where they were');
  });

  t.test('garbage and silence instead of a server: a clear failure, in bounded time', async (t) => {
    const garbage = net.createServer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await new Promise<void>((r) => garbage.listen(0, '127.0.0.1', r));
    t.teardown(() => garbage.close());
    const r = await converse({ ...target((garbage.address() as net.AddressInfo).port), timeoutMs: 500 }, postgresDialogue(check()));
    t.equal(r.ok, false);
    t.match(r.detail, /bad message length|closed|unsupported/);
  });
}
