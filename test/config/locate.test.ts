// locate.ts: key path → line:column in the TOML text, for every TOML shape lb.toml uses.
import t from 'tap';
import toml from 'toml';
import { PositionIndex, formatPath, type KeyPath } from '../../src/config/locate.js';

/** Where `needle` (the n-th occurrence, 1-based) starts in `text`, as line:column. */
function at(text: string, needle: string, nth = 1): string {
  let offset = -1;
  for (let i = 0; i < nth; i++) offset = text.indexOf(needle, offset + 1);
  if (offset < 0) throw new Error(`${needle} not in text`);
  const before = text.slice(0, offset).split('\n');
  return `${before.length}:${before.at(-1)!.length + 1}`;
}

function pos(index: PositionIndex, path: KeyPath): string | undefined {
  const p = index.locate(path);
  return p === undefined ? undefined : `${p.line}:${p.column}`;
}

t.test('formatPath', async (t) => {
  t.equal(formatPath(['pools', 'pg', 'backends', 1, 'weight']), 'pools.pg.backends[1].weight');
  t.equal(formatPath(['listeners', 'my pg', 'bind']), 'listeners."my pg".bind');
  t.equal(formatPath(['listeners', 'a.b']), 'listeners."a.b"');
  t.equal(formatPath([]), '');
});

t.test('tables, inline tables across lines, arrays of tables', async (t) => {
  const text = [
    '# lb config',
    '[global]',
    'log_level = "info"   # comment with = and [brackets]',
    '',
    '[listeners.pg]',
    '  bind = ":6432"',
    'pool = "pg"',
    'allow = [ "10.0.0.0/8",',
    '  "::1/128" ]',
    '',
    '[pools.pg]',
    'backends = [',
    '  { address = "10.0.0.11:5432", weight = 1 },',
    '  { address = "10.0.0.12:5432", weight = 0 }, # the second',
    ']',
    '',
    '[pools.pg.health]',
    "send = '''PING",
    "[not.a.table] = x'''",
    'expect = """',
    'weight = "not a key" """',
    'rise = 2',
    '',
    '[[listeners.web.routes]]',
    'pool = "a"',
    '[[listeners.web.routes]]',
    'host = "x.example.com"',
    'pool = "b"',
    '[listeners.web]',
    'bind = ":80"',
  ].join('\n');
  toml.parse(text); // the scanner is only ever run on valid TOML
  const index = new PositionIndex(text);
  const cases: [KeyPath, string][] = [
    [['global'], at(text, '[global]')],
    [['global', 'log_level'], at(text, 'log_level')],
    [['listeners', 'pg'], at(text, '[listeners.pg]')],
    [['listeners', 'pg', 'bind'], at(text, 'bind')],
    [['listeners', 'pg', 'allow', 0], at(text, '"10.0.0.0/8"')],
    [['listeners', 'pg', 'allow', 1], at(text, '"::1/128"')],
    [['pools', 'pg', 'backends'], at(text, 'backends')],
    [['pools', 'pg', 'backends', 0], at(text, '{ address')],
    [['pools', 'pg', 'backends', 1], at(text, '{ address', 2)],
    [['pools', 'pg', 'backends', 1, 'weight'], at(text, 'weight = 0')],
    [['pools', 'pg', 'backends', 1, 'address'], at(text, 'address', 2)],
    [['pools', 'pg', 'health', 'rise'], at(text, 'rise')],
    [['pools', 'pg', 'health', 'expect'], at(text, 'expect')],
    [['listeners', 'web', 'routes', 0], at(text, '[[listeners.web.routes]]')],
    [['listeners', 'web', 'routes', 1], at(text, '[[listeners.web.routes]]', 2)],
    [['listeners', 'web', 'routes', 1, 'pool'], at(text, 'pool = "b"')],
    [['listeners', 'web', 'routes', 0, 'pool'], at(text, 'pool = "a"')],
    [['listeners', 'web', 'bind'], at(text, 'bind = ":80"')],
    // not written: the nearest written parent
    [['pools', 'pg', 'health', 'weight'], at(text, '[pools.pg.health]')],
    [['pools', 'pg', 'backends', 1, 'nope'], at(text, '{ address', 2)],
    [['listeners', 'pg', 'connect_timeout'], at(text, '[listeners.pg]')],
    [['listeners', 'web'], at(text, '[[listeners.web.routes]]')],
  ];
  for (const [path, expected] of cases) t.equal(pos(index, path), expected, formatPath(path));
  t.equal(pos(index, ['admin', 'bind']), undefined, 'nothing written: no position');
  t.equal(index.locateExact(['pools', 'pg', 'health', 'weight']), undefined, 'a key inside a string is not a key');
  t.equal(index.locateExact(['not']), undefined, 'a header inside a string is not a header');
});

t.test('dotted keys, quoted names, CRLF, nested arrays', async (t) => {
  const text = [
    'listeners.pg.bind = ":6432"',
    '[listeners."my pg"]',
    "'pool' = \"x\"",
    '[listeners."a.b"]',
    'pool = "y"',
    '[pools.p]',
    'backends = [{address="h:1"},{ address = "h:2",',
    '   weight = 3 }]',
    'matrix = [[1, 2], [3, { k = 4 }]]',
    'health.rise = 0',
  ].join('\r\n');
  toml.parse(text);
  const index = new PositionIndex(text);
  const cases: [KeyPath, string][] = [
    [['listeners', 'pg', 'bind'], '1:1'],
    [['listeners', 'pg'], '1:1'],
    [['listeners', 'my pg'], '2:1'],
    [['listeners', 'my pg', 'pool'], '3:1'],
    [['listeners', 'a.b', 'pool'], '5:1'],
    [['pools', 'p', 'backends', 0], '7:13'],
    [['pools', 'p', 'backends', 0, 'address'], '7:14'],
    [['pools', 'p', 'backends', 1, 'address'], at(text, 'address', 2)],
    [['pools', 'p', 'backends', 1, 'weight'], '8:4'],
    [['pools', 'p', 'backends', 1, 'address'], '7:31'],
    [['pools', 'p', 'matrix', 1, 1, 'k'], at(text, 'k = 4')],
    [['pools', 'p', 'matrix', 1, 0], at(text, '3, {')],
    [['pools', 'p', 'health', 'rise'], '10:1'],
    [['pools', 'p', 'health'], '10:1'],
  ];
  for (const [path, expected] of cases) t.equal(pos(index, path), expected, formatPath(path));
});

t.test('arrays of tables below arrays of tables', async (t) => {
  const text = '[[a]]\nx = 1\n[[a.b]]\ny = 1\n[[a]]\n[[a.b]]\n[[a.b]]\ny = 2\n[a.c]\nz = 3\n';
  toml.parse(text);
  const index = new PositionIndex(text);
  t.equal(pos(index, ['a', 0, 'b', 0, 'y']), '4:1');
  t.equal(pos(index, ['a', 1, 'b', 1, 'y']), '8:1');
  t.equal(pos(index, ['a', 1, 'b', 0]), '6:1');
  t.equal(pos(index, ['a', 1, 'c', 'z']), '10:1');
});
