// [pools.NAME.health] check types: the keys each type reads, credentials from password_env /
// password_file (read at load, never printed), and the problems `lb check` reports for a
// config that cannot work, each with its line:column.
import t from 'tap';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { parseConfigText } from '../../src/config/load.js';
import { formatProblem } from '../../src/config/validate.js';
import type { Config, HealthConfig } from '../../src/config/types.js';

/** A file with one pool "pg" (lines 1–6) whose [health] section starts at line 8. */
const file = (health: string[], listener = 'tcp'): string =>
  ['[listeners.pg]', 'bind = "127.0.0.1:6432"', 'pool = "pg"', `protocol = "${listener}"`, '[pools.pg]', 'backends = [{ address = "127.0.0.1:5432" }]', '', '[pools.pg.health]', ...health, ''].join('\n');

function problems(text: string, name = 'x.toml'): string[] {
  const r = parseConfigText(text, name);
  return r.ok ? r.warnings.map(formatProblem) : r.problems.map(formatProblem);
}

function health(text: string, name = 'x.toml'): HealthConfig {
  const r = parseConfigText(text, name);
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'));
  return (r.config as Config).pools[0]!.health!;
}

t.test('defaults: a section without type is the tcp probe it always was', async (t) => {
  const h = health(file(['interval = "5s"']));
  t.same([h.type, h.requireRole, h.database, h.path, h.expectStatus, h.user, h.password], ['tcp', 'any', 'postgres', '/', 200, undefined, undefined]);
});

t.test('postgres with a password from the environment; never shown', async (t) => {
  process.env['LB_TEST_PG_PW'] = 's3cret pw';
  t.teardown(() => delete process.env['LB_TEST_PG_PW']);
  const h = health(file(['type = "postgres"', 'user = "lb_check"', 'password_env = "LB_TEST_PG_PW"', 'require_role = "primary"', 'database = "app"']));
  t.same([h.type, h.user, h.database, h.requireRole], ['postgres', 'lb_check', 'app', 'primary']);
  t.equal(h.password?.reveal(), 's3cret pw');
  t.notOk(JSON.stringify(h).includes('s3cret'), 'JSON shows no password');
  t.notOk(inspect(h, { depth: 5 }).includes('s3cret'), 'inspect shows no password');
  t.notOk(String(h.password).includes('s3cret'), 'String() shows no password');
  t.match(JSON.stringify(h), /"password":"\[redacted\]"/);
});

t.test('password_file: first line, relative to the config file; refused kinds and sizes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-secret-'));
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'pw'), 'from file\nsecond line\n');
  writeFileSync(join(dir, 'big'), 'x'.repeat(5000));
  writeFileSync(join(dir, 'blank'), '\nnext');
  const conf = join(dir, 'lb.toml');
  const h = health(file(['type = "mysql"', 'user = "lb"', 'password_file = "sub/pw"']), conf);
  t.equal(h.password?.reveal(), 'from file');
  t.same(problems(file(['type = "mysql"', 'user = "lb"', 'password_file = "missing"']), conf), [`${conf}:11:1: pools.pg.health.password_file: cannot read ${join(dir, 'missing')}: no such file (ENOENT)`]);
  t.same(problems(file(['type = "mysql"', 'user = "lb"', 'password_file = "sub"']), conf), [`${conf}:11:1: pools.pg.health.password_file: cannot read ${join(dir, 'sub')}: not a regular file (a directory)`]);
  t.same(problems(file(['type = "mysql"', 'user = "lb"', 'password_file = "big"']), conf), [`${conf}:11:1: pools.pg.health.password_file: cannot read ${join(dir, 'big')}: larger than 4 KiB (got 5000 bytes)`]);
  t.same(problems(file(['type = "mysql"', 'user = "lb"', 'password_file = "blank"']), conf), [`${conf}:11:1: pools.pg.health.password_file: ${join(dir, 'blank')}: the first line is empty`]);
  t.same(problems(file(['type = "mysql"', 'user = "lb"', 'password_file = "/dev/zero"']), conf), [`${conf}:11:1: pools.pg.health.password_file: cannot read /dev/zero: not a regular file (a character device)`]);
});

t.test('bad configs are errors with line:col', async (t) => {
  delete process.env['LB_TEST_UNSET'];
  const cases: [string[], string[], string?][] = [
    [['type = "oracle"'], ['x.toml:9:1: pools.pg.health.type: must be one of tcp, postgres, mysql, redis, http (got "oracle")']],
    [['type = "postgres"'], ['x.toml:9:1: pools.pg.health.type: a postgres check logs in: user is required (and password_env or password_file unless the server trusts it)']],
    [['type = "mysql"', 'password_env = "LB_TEST_UNSET"'], [
      'x.toml:9:1: pools.pg.health.type: a mysql check logs in: user is required (and password_env or password_file unless the server trusts it)',
      'x.toml:10:1: pools.pg.health.password_env: environment variable LB_TEST_UNSET is not set',
    ]],
    [['type = "tcp"', 'require_role = "primary"'], ['x.toml:10:1: pools.pg.health.require_role: require_role is for type postgres or mysql or redis, not "tcp"']],
    [['type = "http"', 'require_role = "replica"'], ['x.toml:10:1: pools.pg.health.require_role: require_role is for type postgres or mysql or redis, not "http"']],
    [['type = "redis"', 'require_role = "leader"'], ['x.toml:10:1: pools.pg.health.require_role: must be one of any, primary, replica (got "leader")']],
    [['type = "redis"', 'path = "/x"'], ['x.toml:10:1: pools.pg.health.path: path is for type http, not "redis"']],
    [['type = "http"', 'path = "health"'], ['x.toml:10:1: pools.pg.health.path: must be a path starting with "/" without spaces or control characters, e.g. "/primary" (got "health")']],
    [['type = "http"', 'path = "/a b"'], ['x.toml:10:1: pools.pg.health.path: must be a path starting with "/" without spaces or control characters, e.g. "/primary" (got "/a b")']],
    [['type = "http"', 'expect_status = 99'], ['x.toml:10:1: pools.pg.health.expect_status: must be an integer from 100 to 599 (got 99)']],
    [['type = "postgres"', 'user = "u"', 'send = "x"'], ['x.toml:11:1: pools.pg.health.send: send is for type tcp, not "postgres"']],
    [['type = "mysql"', 'user = ""'], ['x.toml:10:1: pools.pg.health.user: must be a non-empty string without control characters, at most 256 long (got "")']],
    [['type = "redis"', 'password_env = "A"', 'password_file = "b"'], ['x.toml:11:1: pools.pg.health.password_file: password_env and password_file are both set: choose one']],
    [['type = "redis"', 'password_env = "1BAD"'], ['x.toml:10:1: pools.pg.health.password_env: must be the name of an environment variable, like "LB_PG_PASSWORD" (got "1BAD")']],
    [['type = "redis"'], ['x.toml:9:1: pools.pg.health.type: a redis check needs a TCP service, but pool "pg" is used only by udp listeners (use "tcp" with send/expect, or "http")'], 'udp'],
  ];
  for (const [lines, want, listener] of cases) t.same(problems(file(lines, listener)), want, lines.join('; '));
  // Where a check can work with a udp pool: http (a game server's /health), and redis without a password.
  t.same(problems(file(['type = "http"', 'path = "/health"'], 'udp')), []);
  t.same(problems(file(['type = "redis"'])), []);
});

t.test('[load]: sources and their problems', async (t) => {
  const withLoad = (health: string[], load: string[]): string => `${file(health)}[pools.pg.load]\n${load.join('\n')}\n`;
  const r = parseConfigText(withLoad(['type = "postgres"', 'user = "u"'], ['source = "postgres"']), 'x.toml');
  t.ok(r.ok);
  if (r.ok) t.same(r.config.pools[0]!.load, { source: 'postgres', intervalMs: 2000, path: '/load' });
  t.same(problems(withLoad(['type = "postgres"', 'user = "u"'], ['source = "agent"', 'port = 5555'])), []);
  t.same(problems(withLoad(['interval = "2s"'], ['source = "http"', 'path = "/metrics/load"'])), []);
  // [health] starts at line 8 and has its lines; [pools.pg.load] follows it.
  t.same(problems(withLoad(['interval = "2s"'], ['interval = "1s"'])), ['x.toml:10:1: pools.pg.load.source: required key is missing']);
  t.same(problems(withLoad(['interval = "2s"'], ['source = "mysql"'])), ['x.toml:11:1: pools.pg.load.source: source "mysql" logs in with the [health] section\'s credentials: set type = "mysql" there (got type "tcp")']);
  t.same(problems(withLoad(['interval = "2s"'], ['source = "agent"'])), ['x.toml:11:1: pools.pg.load.source: source "agent" needs port: where the agent listens']);
  t.same(problems(withLoad(['type = "redis"'], ['source = "redis"', 'port = 1'])), ['x.toml:12:1: pools.pg.load.port: port is for source agent or http, not "redis" (it reads the backend\'s own port)']);
  t.same(problems(withLoad(['interval = "2s"'], ['source = "agent"', 'port = 1', 'path = "/x"'])), ['x.toml:13:1: pools.pg.load.path: path is for source http, not "agent"']);
  t.same(problems(withLoad(['interval = "2s"'], ['source = "http"', 'interval = "10ms"'])), ['x.toml:12:1: pools.pg.load.interval: must be at least 100ms (got "10ms")']);
});
