// load.ts + validate.ts: bad files → the exact problem lines `lb check` prints (positions
// included), a good file → typed, frozen values. Text in, lines out: no mocks.
import t from 'tap';
import { join } from 'node:path';
import { loadConfigFile, parseConfigText } from '../../src/config/load.js';
import { formatProblem, summarize, validateConfig } from '../../src/config/validate.js';
import { editDistance, suggest } from '../../src/config/reader.js';
import type { Config } from '../../src/config/types.js';

/** A minimal valid file to append a case to (6 lines; an appended case starts on line 7). */
const BASE = ['[listeners.pg]', 'bind = "127.0.0.1:6432"', 'pool = "pg"', '', '[pools.pg]', 'backends = [{ address = "10.0.0.11:5432" }]', ''].join('\n');

function lines(text: string, file = 'x.toml'): string[] {
  const r = parseConfigText(text, file);
  return r.ok ? r.warnings.map(formatProblem) : r.problems.map(formatProblem);
}

function load(text: string): Config {
  const r = parseConfigText(text, 'x.toml');
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'));
  return r.config;
}

t.test('bad files give exact problem lines', async (t) => {
  const cases: { name: string; text: string; expect: string[] }[] = [
    {
      name: 'weight 0 in the second inline backend',
      text: [
        '[listeners.pg]',
        'bind = "127.0.0.1:6432"',
        'pool = "pg"',
        '',
        '[pools.pg]',
        'backends = [',
        '  { address = "10.0.0.11:5432", weight = 1 },',
        '  { address = "10.0.0.12:5432", weight = 0 },',
        ']',
      ].join('\n'),
      expect: ['x.toml:8:33: pools.pg.backends[1].weight: must be an integer from 1 to 256 (got 0)'],
    },
    {
      name: 'several problems at once, in file order, with did-you-mean',
      text: [
        '[global]',
        'log_level = "verbose"',
        'drain_timeout = 30',
        '',
        '[listeners.pg]',
        'bind = "127.0.0.1:6432"',
        'pool = "pgg"',
        'idle_timout = "1h"',
        '',
        '[pools.pg]',
        'algorithm = "leastconn"',
        'retries = 11',
        'backends = [{ address = "10.0.0.11:5432" }]',
      ].join('\n'),
      expect: [
        'x.toml:2:1: global.log_level: must be one of trace, debug, info, warn, error (got "verbose")',
        'x.toml:3:1: global.drain_timeout: must be a duration string with a unit, e.g. "30s" or "30ms" (got 30)',
        'x.toml:7:1: listeners.pg.pool: no pool named "pgg" (did you mean "pg"?)',
        'x.toml:8:1: listeners.pg.idle_timout: unknown key (did you mean "idle_timeout"?)',
        'x.toml:11:1: pools.pg.algorithm: must be one of round-robin, least-connections, consistent-hash, power-of-two (got "leastconn")',
        'x.toml:12:1: pools.pg.retries: must be an integer from 0 to 10 (got 11)',
      ],
    },
    {
      name: 'missing required keys point at their table',
      text: '[admin]\n\n[listeners.pg]\nprotocol = "tcp"\n\n[pools.pg]\nbackends = [{ weight = 2 }]\n\n[pools.q]\n',
      expect: [
        'x.toml:1:1: admin.bind: required key is missing',
        'x.toml:3:1: listeners.pg.bind: required key is missing',
        'x.toml:3:1: listeners.pg.pool: required key is missing',
        'x.toml:7:13: pools.pg.backends[0].address: required key is missing',
        'x.toml:9:1: pools.q.backends: required key is missing',
      ],
    },
    {
      name: 'listeners and routes pointing at missing pools',
      text: [
        '[listeners.web]',
        'protocol = "http"',
        'bind = ":8080"',
        'pool = "nope"',
        '[[listeners.web.routes]]',
        'host = "API.example.com"',
        'pool = "webb"',
        '[pools.web]',
        'backends = [{ address = "127.0.0.1:8081" }]',
        '[pools.api]',
        'backends = [{ address = "127.0.0.1:8082" }]',
      ].join('\n'),
      expect: [
        'x.toml:4:1: listeners.web.pool: no pool named "nope" (pools: web, api)',
        'x.toml:7:1: listeners.web.routes[0].pool: no pool named "webb" (did you mean "web"?)',
      ],
    },
    {
      name: 'no pools at all',
      text: '[listeners.pg]\nbind = ":6432"\npool = "pg"\n',
      expect: ['x.toml:3:1: listeners.pg.pool: no pool named "pg" (no pools are defined)'],
    },
    {
      name: 'binds that overlap: same host, all interfaces, admin; tcp and udp do not',
      text: [
        '[admin]',
        'bind = "127.0.0.1:9090"',
        '[listeners.a]',
        'bind = ":6432"',
        'pool = "p"',
        '[listeners.b]',
        'bind = "0.0.0.0:6432"',
        'pool = "p"',
        '[listeners.c]',
        'protocol = "udp"',
        'bind = "0.0.0.0:6432"',
        'pool = "p"',
        '[listeners.d]',
        'protocol = "http"',
        'bind = "127.0.0.1:9090"',
        'pool = "p"',
        '[listeners.e]',
        'bind = "127.0.0.1:7000"',
        'pool = "p"',
        '[listeners.f]',
        'bind = "[::1]:7000"',
        'pool = "p"',
        '[listeners.g]',
        'bind = "127.0.0.1:0"',
        'pool = "p"',
        '[listeners.h]',
        'bind = "127.0.0.1:0"',
        'pool = "p"',
        '[listeners.i]',
        'protocol = "udp"',
        'bind = "[::]:6432"',
        'pool = "p"',
        '[listeners.j]',
        'bind = "127.0.0.1:7000"',
        'pool = "p"',
        '[pools.p]',
        'backends = [{ address = "db.example.com:5432" }]',
      ].join('\n'),
      expect: [
        'x.toml:7:1: listeners.b.bind: "0.0.0.0:6432" overlaps listeners.a.bind ":6432" (both TCP on port 6432)',
        'x.toml:15:1: listeners.d.bind: "127.0.0.1:9090" overlaps admin.bind "127.0.0.1:9090" (both TCP on port 9090)',
        'x.toml:31:1: listeners.i.bind: "[::]:6432" overlaps listeners.c.bind "0.0.0.0:6432" (both UDP on port 6432)',
        'x.toml:34:1: listeners.j.bind: "127.0.0.1:7000" overlaps listeners.e.bind "127.0.0.1:7000" (both TCP on port 7000)',
      ],
    },
    {
      name: 'backends: duplicates by canonical address, empty pool, strings instead of tables',
      text: [
        '[listeners.pg]',
        'bind = ":6432"',
        'pool = "pg"',
        '[pools.pg]',
        'backends = [',
        '  { address = "[2001:DB8::1]:5432" },',
        '  { address = "[2001:db8:0::1]:5432", wieght = 2 },',
        '  "10.0.0.13:5432",',
        '  { address = "::1:5432" },',
        ']',
        '[pools.empty]',
        'backends = []',
      ].join('\n'),
      expect: [
        'x.toml:7:5: pools.pg.backends[1].address: duplicate backend "[2001:db8::1]:5432" (also backends[0])',
        'x.toml:7:39: pools.pg.backends[1].wieght: unknown key (did you mean "weight"?)',
        'x.toml:8:3: pools.pg.backends[2]: must be a table like { address = "10.0.0.13:5432" } (got "10.0.0.13:5432")',
        'x.toml:9:5: pools.pg.backends[3].address: IPv6 addresses must be in brackets, e.g. "[::1]:5432" (got "::1:5432")',
        'x.toml:12:1: pools.empty.backends: at least one backend is required',
      ],
    },
    {
      name: 'listener keys: routes only on http, v1 not on udp, CIDRs, names',
      text: [
        '[listeners."my pg"]',
        'protocol = "udp"',
        'bind = ":5000"',
        'pool = "p"',
        'proxy_protocol = "v1"',
        'allow = ["10.0.0.0/8", "300.0.0.0/8"]',
        'deny = "10.0.0.0/8"',
        'session_timeout = "0s"',
        '[[listeners."my pg".routes]]',
        'pool = "p"',
        'path_prefix = "v1"',
        '[pools.p]',
        'backends = [{ address = "127.0.0.1:5001" }]',
      ].join('\n'),
      expect: [
        'x.toml:1:1: listeners."my pg": a listener name must be 1 to 64 letters, digits, "_", "." or "-" (got "my pg")',
        'x.toml:5:1: listeners."my pg".proxy_protocol: PROXY protocol v1 is TCP only: a udp listener takes "off" or "v2" (got "v1")',
        'x.toml:6:24: listeners."my pg".allow[1]: must be a CIDR such as "10.0.0.0/8" or "::1/128", or an IP address (got "300.0.0.0/8")',
        'x.toml:7:1: listeners."my pg".deny: must be an array of CIDR strings, e.g. ["10.0.0.0/8", "::1/128"] (got "10.0.0.0/8")',
        'x.toml:8:1: listeners."my pg".session_timeout: must be at least 1ms (got "0s")',
        'x.toml:9:1: listeners."my pg".routes: only allowed when protocol = "http" (this listener is "udp")',
        'x.toml:11:1: listeners."my pg".routes[0].path_prefix: must be a path starting with "/", e.g. "/v1/" (got "v1")',
      ],
    },
    {
      name: 'health keys',
      text: BASE + ['[pools.pg.health]', 'rise = 0', 'fall = 1.5', 'port = 0', "send = 'PING\\q'", 'expect = 1', 'intervl = "1s"'].join('\n'),
      expect: [
        'x.toml:8:1: pools.pg.health.rise: must be an integer from 1 to 100 (got 0)',
        'x.toml:9:1: pools.pg.health.fall: must be an integer from 1 to 100 (got 1.5)',
        'x.toml:10:1: pools.pg.health.port: must be an integer from 1 to 65535 (got 0)',
        'x.toml:11:1: pools.pg.health.send: unknown escape "\\q" at character 5; allowed: \\r \\n \\t \\\\ \\" \\xHH (got "PING\\\\q")',
        'x.toml:12:1: pools.pg.health.expect: must be a string (escapes \\r \\n \\t \\\\ \\" \\xHH allowed) (got 1)',
        'x.toml:13:1: pools.pg.health.intervl: unknown key (did you mean "interval"?)',
      ],
    },
    {
      name: 'wrong shapes',
      text: 'listener = 1\nglobal = 5\n[[pools]]\n[listeners.a]\nbind = [":1"]\npool = "p"\nroutes = { pool = "p" }\n[listeners.b]\n',
      expect: [
        'x.toml:1:1: listener: unknown key (did you mean "listeners"?)',
        'x.toml:2:1: global: must be a table (got 5)',
        'x.toml:3:1: pools: must be a table of named pools, e.g. [pools.NAME] (got an array)',
        'x.toml:5:1: listeners.a.bind: must be a string IP:PORT or :PORT, e.g. "127.0.0.1:6432", "[::1]:6432" or ":6432" (got an array)',
        'x.toml:6:1: listeners.a.pool: no pool named "p" (no pools are defined)',
        'x.toml:7:1: listeners.a.routes: must be an array of tables: [[listeners.NAME.routes]] (got a table)',
        'x.toml:7:1: listeners.a.routes: only allowed when protocol = "http" (this listener is "tcp")',
        'x.toml:8:1: listeners.b.bind: required key is missing',
        'x.toml:8:1: listeners.b.pool: required key is missing',
      ],
    },
    {
      name: 'no listeners: no position to give',
      text: '[pools.p]\nbackends = [{ address = "127.0.0.1:1" }]\n',
      expect: ['x.toml: listeners: at least one listener is required, e.g. [listeners.NAME] with bind and pool'],
    },
    {
      name: 'empty file',
      text: '',
      expect: ['x.toml: listeners: at least one listener is required, e.g. [listeners.NAME] with bind and pool'],
    },
    {
      name: 'an empty [listeners] table',
      text: '[listeners]\n',
      expect: ['x.toml:1:1: listeners: at least one listener is required, e.g. [listeners.NAME] with bind and pool'],
    },
    {
      name: 'syntax error: position and a short message',
      text: BASE + '[pools.pg.health]\nrise = 2 3\n',
      expect: ['x.toml:8:10: TOML syntax error: expected end of line but found "3"'],
    },
    {
      name: 'syntax error: unterminated string',
      text: '[listeners.pg]\nbind = "127.0.0.1:6432\npool = "pg"\n',
      expect: ['x.toml:2:23: TOML syntax error: unterminated string (found end of line)'],
    },
    {
      name: 'syntax error: missing value',
      text: '[listeners.pg]\nbind =\n',
      expect: ['x.toml:2:7: TOML syntax error: expected a value (string, number, boolean, array or inline table) but found end of line'],
    },
    {
      name: 'syntax error: missing comma in an inline table',
      text: 'x = { a = 1 b = 2 }\n',
      expect: ['x.toml:1:13: TOML syntax error: expected "," or "}" but found "b"'],
    },
    {
      name: 'duplicate key keeps the parser position',
      text: '[listeners.pg]\nbind = ":1"\nbind = ":2"\n',
      expect: ['x.toml:3:1: TOML error: key "listeners.pg.bind" is defined twice'],
    },
  ];
  for (const c of cases) {
    const r = parseConfigText(c.text, 'x.toml');
    t.equal(r.ok, false, `${c.name}: invalid`);
    t.same(lines(c.text), c.expect, c.name);
  }
});

t.test('warnings do not make a file invalid', async (t) => {
  const text = BASE + ['allow = []', '[pools.pg.health]', 'interval = "1s"', 'timeout = "1s"'].join('\n');
  t.same(lines(text.replace('allow = []', '')), [
    'x.toml:10:1: pools.pg.health.timeout: warning: timeout 1s is not shorter than interval 1s: a slow backend is probed less often than the interval says',
  ]);
  const withCidr = BASE.replace('pool = "pg"', 'pool = "pg"\nallow = ["10.1.2.3/8"]');
  const r = parseConfigText(withCidr, 'x.toml');
  t.equal(r.ok, true);
  t.same(lines(withCidr), ['x.toml:4:10: listeners.pg.allow[0]: warning: host bits are set: "10.1.2.3/8" is read as "10.0.0.0/8"']);
  if (r.ok) t.same(r.config.listeners[0]!.allow, [{ text: '10.0.0.0/8', network: '10.0.0.0', prefix: 8, family: 4 }]);
  // With an error present, warnings are listed among the problems, in file order.
  const both = withCidr.replace('pool = "pg"', 'pool = "pgx"');
  t.same(lines(both), [
    'x.toml:3:1: listeners.pg.pool: no pool named "pgx" (did you mean "pg"?)',
    'x.toml:4:10: listeners.pg.allow[0]: warning: host bits are set: "10.1.2.3/8" is read as "10.0.0.0/8"',
  ]);
});

t.test('a good file: typed values, defaults, frozen', async (t) => {
  const config = load(
    [
      '[global]',
      'drain_timeout = "0s"',
      '[admin]',
      'bind = "[::1]:9090"',
      '[listeners.pg]',
      'bind = ":6432"',
      'pool = "pg"',
      'allow = ["10.0.0.0/8", "::1"]',
      '[listeners.game]',
      'protocol = "udp"',
      'bind = "0.0.0.0:6432"',
      'pool = "pg"',
      'session_timeout = "1.5s"',
      'proxy_protocol = "v2"',
      '[listeners.web]',
      'protocol = "http"',
      'bind = "127.0.0.1:0"',
      'pool = "pg"',
      '[[listeners.web.routes]]',
      'host = "*.Example.com"',
      'path_prefix = "/v1/"',
      'pool = "pg"',
      '[[listeners.web.routes]]',
      'pool = "pg"',
      '[pools.pg]',
      'algorithm = "consistent-hash"',
      'hash_key = "source-ip-port"',
      'on_down = "close"',
      'backends = [{ address = "10.0.0.11:5432", weight = 3 }, { address = "[::1]:5432" }, { address = "DB.example.com:5432" }]',
      '[pools.pg.health]',
      'port = 8008',
      'send = "PING\\r\\n"',
      "expect = '+PONG\\r\\n'",
    ].join('\n'),
  );
  t.same(config.global, { logLevel: 'info', drainTimeoutMs: 0, maxConnections: 100_000, workers: 1, datapath: 'auto' });
  t.same(config.admin, { bind: { host: '::1', port: 9090, family: 6, text: '[::1]:9090' } });
  t.same(
    config.listeners.map((l) => l.name),
    ['pg', 'game', 'web'],
  );
  const [pg, game, web] = config.listeners;
  t.same(pg, {
    name: 'pg',
    protocol: 'tcp',
    bind: { host: '', port: 6432, family: 0, text: ':6432' },
    pool: 'pg',
    connectTimeoutMs: 3000,
    idleTimeoutMs: 3_600_000,
    maxConnections: 10_000,
    allow: [
      { text: '10.0.0.0/8', network: '10.0.0.0', prefix: 8, family: 4 },
      { text: '::1/128', network: '::1', prefix: 128, family: 6 },
    ],
    deny: [],
    proxyProtocol: 'off',
    datapath: 'auto',
    sessionTimeoutMs: 60_000,
    routes: [],
  });
  t.equal(game!.protocol, 'udp');
  t.equal(game!.sessionTimeoutMs, 1500);
  t.equal(game!.proxyProtocol, 'v2');
  t.same(web!.routes, [{ host: '*.example.com', pathPrefix: '/v1/', pool: 'pg' }, { pool: 'pg' }]);
  t.notOk('host' in web!.routes[1]!, 'unset optional keys are absent, not undefined');
  const pool = config.pools[0]!;
  t.same(
    { name: pool.name, algorithm: pool.algorithm, hashKey: pool.hashKey, retries: pool.retries, onDown: pool.onDown },
    { name: 'pg', algorithm: 'consistent-hash', hashKey: 'source-ip-port', retries: 2, onDown: 'close' },
  );
  t.same(pool.backends, [
    { address: { host: '10.0.0.11', port: 5432, family: 4, text: '10.0.0.11:5432' }, weight: 3 },
    { address: { host: '::1', port: 5432, family: 6, text: '[::1]:5432' }, weight: 1 },
    { address: { host: 'db.example.com', port: 5432, family: 0, text: 'db.example.com:5432' }, weight: 1 },
  ]);
  const health = pool.health!;
  t.same(
    { intervalMs: health.intervalMs, timeoutMs: health.timeoutMs, rise: health.rise, fall: health.fall, port: health.port },
    { intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, port: 8008 },
  );
  t.ok(health.send.equals(Buffer.from('PING\r\n')), 'basic string: TOML decoded the escapes');
  t.ok(health.expect.equals(Buffer.from('+PONG\r\n')), 'literal string: lb decoded the escapes');

  // Deeply frozen: every object and array (Buffers cannot be frozen and are skipped).
  const unfrozen: string[] = [];
  const walk = (v: unknown, path: string): void => {
    if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return;
    if (!Object.isFrozen(v)) unfrozen.push(path);
    for (const [k, child] of Object.entries(v)) walk(child, `${path}.${k}`);
  };
  walk(config, 'config');
  t.same(unfrozen, []);
  t.throws(() => {
    (config.listeners as ListenerArray).push(pg!);
  });

  t.equal(summarize(config), 'x.toml: ok: 3 listeners (tcp 1, udp 1, http 1), 1 pool, 3 backends');
});

type ListenerArray = Config['listeners'][number][];

t.test('defaults for a minimal file, and no health section = no health check', async (t) => {
  const config = load(BASE);
  t.same(config.global, { logLevel: 'info', drainTimeoutMs: 30_000, maxConnections: 100_000, workers: 1, datapath: 'auto' });
  t.equal(config.admin, undefined);
  t.notOk('admin' in config);
  t.same(config.pools[0], {
    name: 'pg',
    algorithm: 'round-robin',
    hashKey: 'source-ip',
    retries: 2,
    onDown: 'keep',
    backends: [{ address: { host: '10.0.0.11', port: 5432, family: 4, text: '10.0.0.11:5432' }, weight: 1 }],
  });
  const health = load(BASE + '[pools.pg.health]\n').pools[0]!.health!;
  t.same(
    { ...health, send: health.send.length, expect: health.expect.length },
    { intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, send: 0, expect: 0, type: 'tcp', database: 'postgres', requireRole: 'any', path: '/', expectStatus: 200 },
  );
  t.equal(summarize(config), 'x.toml: ok: 1 listener (tcp 1), 1 pool, 1 backend');
});

t.test('validateConfig without text: same problems, no positions', async (t) => {
  const r = validateConfig({ listeners: { pg: { bind: ':1', pool: 'pg', idle_timout: '1s' } } }, 'obj');
  t.equal(r.ok, false);
  if (!r.ok) {
    t.same(r.problems.map(formatProblem), [
      'obj: listeners.pg.idle_timout: unknown key (did you mean "idle_timeout"?)',
      'obj: listeners.pg.pool: no pool named "pg" (no pools are defined)',
    ]);
  }
});

t.test('loadConfigFile reads files and reports read errors as one problem', async (t) => {
  const dir = t.testdir({
    'good.toml': '\uFEFF' + BASE,
    'bad.toml': BASE + '[pools.pg.health]\nrise = 0\n',
    'sub': {},
  });
  const good = loadConfigFile(join(dir, 'good.toml'));
  t.equal(good.ok, true, 'a UTF-8 BOM is tolerated');
  if (good.ok) t.equal(good.config.source, join(dir, 'good.toml'));
  const bad = loadConfigFile(join(dir, 'bad.toml'));
  t.same(bad.ok ? [] : bad.problems.map(formatProblem), [`${join(dir, 'bad.toml')}:8:1: pools.pg.health.rise: must be an integer from 1 to 100 (got 0)`]);
  const missing = loadConfigFile(join(dir, 'nope.toml'));
  t.same(missing.ok ? [] : missing.problems.map(formatProblem), [`${join(dir, 'nope.toml')}: cannot read config file: no such file (ENOENT)`]);
  const isDir = loadConfigFile(join(dir, 'sub'));
  t.same(isDir.ok ? [] : isDir.problems.map(formatProblem), [`${join(dir, 'sub')}: not a regular file (a directory)`]);
});

t.test('formatProblem and suggestions', async (t) => {
  t.equal(formatProblem({ file: 'f', path: 'a.b', message: 'm', line: 3, column: 7 }), 'f:3:7: a.b: m');
  t.equal(formatProblem({ file: 'f', path: 'a.b', message: 'm' }), 'f: a.b: m');
  t.equal(formatProblem({ file: 'f', path: '', message: 'm', line: 1, column: 2 }), 'f:1:2: m');
  t.equal(formatProblem({ file: 'f', path: 'a', message: 'm', severity: 'warning' }), 'f: a: warning: m');
  t.equal(editDistance('idle_timout', 'idle_timeout'), 1);
  t.equal(editDistance('wieght', 'weight'), 1, 'a transposition is one edit');
  t.equal(editDistance('', 'abc'), 3);
  t.equal(suggest('idle_timout', ['connect_timeout', 'idle_timeout']), 'idle_timeout');
  t.equal(suggest('bogus', ['bind', 'pool']), undefined);
  t.equal(suggest('Bind', ['bind', 'pool']), 'bind');
});
