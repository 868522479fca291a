// The MySQL/MariaDB health check against a real MariaDB (Debian's mariadb-server) started
// with max_connect_errors = 3 (checks from 127.0.0.2 with name resolution on, so that the host
// cache counts errors; MariaDB keeps none for 127.0.0.1): mysql_native_password logins (and a wrong password), the role
// from read_only, utilization from Threads_connected / max_connections, and 300 checks that
// never block lb's host, where four bare TCP connects (what a plain port probe does) do.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { converse } from '../../src/health/conversation.js';
import { mysqlDialogue, scramble, type MysqlCheck } from '../../src/health/checks/mysql.js';
import { haveMariadb, startMariadb } from '../support/mariadb.js';

// From 127.0.0.2: MariaDB keeps no host cache (so no max_connect_errors) for 127.0.0.1 alone.
const SOURCE = '127.0.0.2';
const target = (port: number) => ({ host: '127.0.0.1', port, timeoutMs: 3000, localAddress: SOURCE });
const check = (over: Partial<MysqlCheck> = {}): MysqlCheck => ({ user: 'lb_check', password: 'ch3ck pw', wantRole: 'any', load: false, ...over });

t.test('scrambles: an empty password sends nothing; unknown plugins are refused', async (t) => {
  const nonce = Buffer.alloc(20, 7);
  t.equal(scramble('mysql_native_password', '', nonce)!.length, 0);
  t.equal(scramble('mysql_native_password', 'x', nonce)!.length, 20);
  t.equal(scramble('caching_sha2_password', 'x', nonce)!.length, 32);
  t.equal(scramble('client_ed25519', 'x', nonce), null);
});

if (!haveMariadb()) {
  t.plan(1, 'MariaDB not installed (apt-get install mariadb-server)');
} else {
  const db = await startMariadb(['--max-connect-errors=3', '--max-connections=40', '--skip-name-resolve=OFF']);
  t.teardown(() => db.close());
  db.sql("CREATE USER 'lb_check'@'127.0.0.2' IDENTIFIED VIA mysql_native_password USING PASSWORD('ch3ck pw')");
  db.sql("CREATE USER 'lb_nopw'@'127.0.0.2'");
  const status = (name: string): number => Number(db.sql(`SHOW GLOBAL STATUS LIKE '${name}'`).split('\t')[1]);

  t.test('logins: right password, wrong password, no password', async (t) => {
    const ok = await converse(target(db.port), mysqlDialogue(check()));
    t.same([ok.ok, ok.detail, ok.role], [true, 'ok (primary)', 'primary']);
    const bad = await converse(target(db.port), mysqlDialogue(check({ password: 'wrong' })));
    t.equal(bad.ok, false);
    t.match(bad.detail, /^ERROR 1045 \(28000\): Access denied for user 'lb_check'/);
    t.notOk(bad.detail.includes('wrong'), 'the password is not in the detail');
    const nopw = await converse(target(db.port), mysqlDialogue(check({ user: 'lb_nopw', password: undefined })));
    t.equal(nopw.ok, true, nopw.detail);
  });

  t.test('role from read_only; utilization from Threads_connected / max_connections', async (t) => {
    db.sql('SET GLOBAL read_only = 1');
    const ro = await converse(target(db.port), mysqlDialogue(check({ wantRole: 'primary' })));
    t.same([ro.ok, ro.detail, ro.role], [false, 'role replica, want primary', 'replica']);
    db.sql('SET GLOBAL read_only = 0');
    const rw = await converse(target(db.port), mysqlDialogue(check({ wantRole: 'primary', load: true })));
    t.same([rw.ok, rw.role], [true, 'primary'], rw.detail);
    t.ok(rw.utilization !== undefined && rw.utilization >= 1 / 40 && rw.utilization < 0.5, `utilization ${rw.utilization}`);
  });

  t.test('300 checks with max_connect_errors = 3: the host is never blocked, nothing aborted; bare connects do block it', async (t) => {
    const abortedBefore = status('Aborted_connects');
    for (let i = 0; i < 30; i++) {
      const rs = await Promise.all(Array.from({ length: 10 }, () => converse(target(db.port), mysqlDialogue(check({ wantRole: 'primary' })))));
      const bad = rs.find((r) => !r.ok);
      t.equal(bad, undefined, bad?.detail ?? 'batch passed');
    }
    t.equal(status('Aborted_connects'), abortedBefore, 'Aborted_connects unchanged');
    t.notMatch(db.log(), /Aborted connection[^\n]*lb_check/, 'the server log shows no aborted check connection');
    // What a bare TCP port check does: connect, read the greeting, close. Four of them block the host.
    for (let i = 0; i < 4; i++) {
      const s = net.connect({ port: db.port, host: '127.0.0.1', localAddress: SOURCE });
      await once(s, 'data');
      s.destroy();
      await once(s, 'close');
    }
    let blocked = await converse(target(db.port), mysqlDialogue(check()));
    for (let i = 0; i < 100 && blocked.ok; i++) {
      await new Promise((r) => setTimeout(r, 20));
      blocked = await converse(target(db.port), mysqlDialogue(check()));
    }
    t.equal(blocked.ok, false, 'the bare connects got the host blocked');
    t.match(blocked.detail, /blocked because of many connection errors/);
    t.ok(status('Aborted_connects') > abortedBefore, 'while the bare connects count as aborted');
    db.sql('FLUSH HOSTS');
    t.equal((await converse(target(db.port), mysqlDialogue(check()))).ok, true, 'FLUSH HOSTS lets it in again');
  });
}
