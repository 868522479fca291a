// The small pure parsers of config/: duration, address, cidr, escapes. Table-driven.
import t from 'tap';
import { BlockList } from 'node:net';
import { parseDuration, formatDuration, MAX_DURATION_MS } from '../../src/config/duration.js';
import { parseAddress } from '../../src/config/address.js';
import { parseCidr } from '../../src/config/cidr.js';
import { decodeEscapes } from '../../src/config/escapes.js';

t.test('duration', async (t) => {
  const good: [string, number][] = [
    ['250ms', 250],
    ['2s', 2000],
    ['1.5s', 1500],
    ['0.25s', 250],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['1m30s', 90_000],
    ['596h', MAX_DURATION_MS],
  ];
  for (const [text, ms] of good) t.same(parseDuration(text), { ok: true, value: ms }, text);

  const form = 'must be a duration such as "250ms", "2s", "1.5s", "5m" or "1h" (units ms, s, m, h)';
  const bad: [unknown, string][] = [
    ['2', `${form} (got "2")`],
    ['2 s', `${form} (got "2 s")`],
    ['2sec', `${form} (got "2sec")`],
    ['-1s', `${form} (got "-1s")`],
    ['', `${form} (got "")`],
    ['1d', `${form} (got "1d")`],
    ['.5s', `${form} (got ".5s")`],
    [30, 'must be a duration string with a unit, e.g. "30s" or "30ms" (got 30)'],
    [true, `${form} (got true)`],
    ['1.5ms', 'must be a whole number of milliseconds (got "1.5ms")'],
    ['0s', 'must be at least 1ms (got "0s")'],
    ['597h', 'must be at most 596h (got "597h")'],
  ];
  for (const [input, message] of bad) t.same(parseDuration(input), { ok: false, message }, String(input));

  t.same(parseDuration('0s', { minMs: 0 }), { ok: true, value: 0 }, '"0s" where the key allows 0');
  t.same(parseDuration('0ms', { minMs: 0 }), { ok: true, value: 0 });
  t.same(
    [0, 1, 250, 1000, 1500, 60_000, 90_000, 3_600_000].map(formatDuration),
    ['0s', '1ms', '250ms', '1s', '1500ms', '1m', '90s', '1h'],
  );
});

t.test('address', async (t) => {
  const good: [string, 'backend' | 'bind', { host: string; port: number; family: 0 | 4 | 6; text: string }][] = [
    ['10.0.0.11:5432', 'backend', { host: '10.0.0.11', port: 5432, family: 4, text: '10.0.0.11:5432' }],
    ['[::1]:5432', 'backend', { host: '::1', port: 5432, family: 6, text: '[::1]:5432' }],
    ['[2001:DB8:0:0:0:0:0:1]:80', 'backend', { host: '2001:db8::1', port: 80, family: 6, text: '[2001:db8::1]:80' }],
    ['DB1.Example.com:5432', 'backend', { host: 'db1.example.com', port: 5432, family: 0, text: 'db1.example.com:5432' }],
    ['localhost:1', 'backend', { host: 'localhost', port: 1, family: 0, text: 'localhost:1' }],
    ['x:65535', 'backend', { host: 'x', port: 65535, family: 0, text: 'x:65535' }],
    [':6432', 'bind', { host: '', port: 6432, family: 0, text: ':6432' }],
    [':0', 'bind', { host: '', port: 0, family: 0, text: ':0' }],
    ['127.0.0.1:0', 'bind', { host: '127.0.0.1', port: 0, family: 4, text: '127.0.0.1:0' }],
    ['0.0.0.0:6432', 'bind', { host: '0.0.0.0', port: 6432, family: 4, text: '0.0.0.0:6432' }],
    ['[::]:6432', 'bind', { host: '::', port: 6432, family: 6, text: '[::]:6432' }],
  ];
  for (const [text, kind, value] of good) t.same(parseAddress(text, kind), { ok: true, value }, `${kind} ${text}`);

  const backendEg = 'e.g. "10.0.0.11:5432", "[::1]:5432" or "db1.example.com:5432"';
  const bad: [unknown, 'backend' | 'bind', string][] = [
    ['10.0.0.11', 'backend', `the port is missing: must be HOST:PORT, ${backendEg} (got "10.0.0.11")`],
    ['[::1]', 'backend', `the port is missing: must be HOST:PORT, ${backendEg} (got "[::1]")`],
    ['[::1]:', 'backend', `the port is missing: must be HOST:PORT, ${backendEg} (got "[::1]:")`],
    ['::1:5432', 'backend', 'IPv6 addresses must be in brackets, e.g. "[::1]:5432" (got "::1:5432")'],
    ['2001:db8::1', 'backend', 'IPv6 addresses must be in brackets, e.g. "[::1]:5432" (got "2001:db8::1")'],
    ['[::1:5432', 'backend', 'has "[" without a closing "]" (got "[::1:5432")'],
    ['[1.2.3.4]:80', 'backend', '"1.2.3.4" is not a valid IPv6 address (got "[1.2.3.4]:80")'],
    ['[fe80::1%eth0]:80', 'backend', 'IPv6 zone ids ("%...") are not supported (got "[fe80::1%eth0]:80")'],
    ['10.0.0.1:0', 'backend', 'port must be a number from 1 to 65535 (got "10.0.0.1:0")'],
    ['10.0.0.1:65536', 'backend', 'port must be a number from 1 to 65535 (got "10.0.0.1:65536")'],
    ['10.0.0.1:http', 'backend', 'port must be a number from 1 to 65535 (got "10.0.0.1:http")'],
    ['10.0.0.1:080', 'backend', 'port must be a number from 1 to 65535 (got "10.0.0.1:080")'],
    ['10.0.0.256:80', 'backend', '"10.0.0.256" is not a valid IPv4 address (got "10.0.0.256:80")'],
    ['10.0.0.01:80', 'backend', '"10.0.0.01" is not a valid IPv4 address (got "10.0.0.01:80")'],
    ['db_1:80', 'backend', '"db_1" is not a valid IP address or hostname (got "db_1:80")'],
    ['-db:80', 'backend', '"-db" is not a valid IP address or hostname (got "-db:80")'],
    ['db..x:80', 'backend', '"db..x" is not a valid IP address or hostname (got "db..x:80")'],
    [':5432', 'backend', `the host is missing: must be HOST:PORT, ${backendEg} (got ":5432")`],
    [5432, 'backend', `must be a string HOST:PORT, ${backendEg} (got 5432)`],
    ['localhost:9090', 'bind', 'the bind host must be an IP address (e.g. 127.0.0.1, [::1], 0.0.0.0) or empty for all interfaces, not a hostname (got "localhost:9090")'],
    ['127.0.0.1:65536', 'bind', 'port must be a number from 0 to 65535 (got "127.0.0.1:65536")'],
    ['6432', 'bind', 'the port is missing: must be IP:PORT or :PORT, e.g. "127.0.0.1:6432", "[::1]:6432" or ":6432" (got "6432")'],
  ];
  for (const [input, kind, message] of bad) t.same(parseAddress(input, kind), { ok: false, message }, `${kind} ${String(input)}`);
});

t.test('cidr', async (t) => {
  const good: [string, { text: string; network: string; prefix: number; family: 4 | 6 }][] = [
    ['10.0.0.0/8', { text: '10.0.0.0/8', network: '10.0.0.0', prefix: 8, family: 4 }],
    ['192.168.1.10', { text: '192.168.1.10/32', network: '192.168.1.10', prefix: 32, family: 4 }],
    ['0.0.0.0/0', { text: '0.0.0.0/0', network: '0.0.0.0', prefix: 0, family: 4 }],
    ['::1/128', { text: '::1/128', network: '::1', prefix: 128, family: 6 }],
    ['::1', { text: '::1/128', network: '::1', prefix: 128, family: 6 }],
    ['2001:DB8::/32', { text: '2001:db8::/32', network: '2001:db8::', prefix: 32, family: 6 }],
    ['::/0', { text: '::/0', network: '::', prefix: 0, family: 6 }],
  ];
  for (const [text, cidr] of good) t.same(parseCidr(text), { ok: true, value: { cidr } }, text);

  t.same(parseCidr('10.1.2.3/8'), {
    ok: true,
    value: {
      cidr: { text: '10.0.0.0/8', network: '10.0.0.0', prefix: 8, family: 4 },
      warning: 'host bits are set: "10.1.2.3/8" is read as "10.0.0.0/8"',
    },
  });
  t.same(parseCidr('2001:db8::1/64'), {
    ok: true,
    value: {
      cidr: { text: '2001:db8::/64', network: '2001:db8::', prefix: 64, family: 6 },
      warning: 'host bits are set: "2001:db8::1/64" is read as "2001:db8::/64"',
    },
  });

  const form = 'must be a CIDR such as "10.0.0.0/8" or "::1/128", or an IP address';
  const bad: [unknown, string][] = [
    ['10.0.0.0/33', 'the prefix length after "/" must be a number from 0 to 32 for IPv4 (got "10.0.0.0/33")'],
    ['::1/129', 'the prefix length after "/" must be a number from 0 to 128 for IPv6 (got "::1/129")'],
    ['10.0.0.0/', 'the prefix length after "/" must be a number from 0 to 32 (got "10.0.0.0/")'],
    ['10.0.0.0/08', 'the prefix length after "/" must be a number from 0 to 32 (got "10.0.0.0/08")'],
    ['10.0.0.0/8/8', 'the prefix length after "/" must be a number from 0 to 32 (got "10.0.0.0/8/8")'],
    ['300.0.0.0/8', `${form} (got "300.0.0.0/8")`],
    ['10.0.0/8', `${form} (got "10.0.0/8")`],
    ['fe80::1%eth0/64', `${form} (got "fe80::1%eth0/64")`],
    ['example.com', `${form} (got "example.com")`],
    ['', `${form} (got "")`],
    [8, 'must be a CIDR string, e.g. "10.0.0.0/8", "192.168.1.10" or "::1/128" (got 8)'],
  ];
  for (const [input, message] of bad) t.same(parseCidr(input), { ok: false, message }, String(input));

  // The contract with listeners/admission.ts: network + prefix go straight into BlockList.
  const list = new BlockList();
  for (const text of ['10.1.2.3/8', '2001:db8::1/64']) {
    const r = parseCidr(text);
    if (!r.ok) throw new Error(r.message);
    list.addSubnet(r.value.cidr.network, r.value.cidr.prefix, r.value.cidr.family === 4 ? 'ipv4' : 'ipv6');
  }
  t.ok(list.check('10.200.0.1', 'ipv4'));
  t.notOk(list.check('11.0.0.1', 'ipv4'));
  t.ok(list.check('2001:db8::ffff', 'ipv6'));
  t.notOk(list.check('2001:db9::1', 'ipv6'));
});

t.test('escapes', async (t) => {
  const good: [string, Buffer][] = [
    ['', Buffer.alloc(0)],
    ['PING', Buffer.from('PING')],
    ['PING\\r\\n', Buffer.from('PING\r\n')],
    ['\\x00\\x01\\xff\\xFF', Buffer.from([0, 1, 255, 255])],
    ['a\\tb\\\\c\\"d', Buffer.from('a\tb\\c"d')],
    ['already\r\ndecoded', Buffer.from('already\r\ndecoded')],
    ['é\\x00', Buffer.from([0xc3, 0xa9, 0])],
  ];
  for (const [text, bytes] of good) {
    const r = decodeEscapes(text);
    t.ok(r.ok && r.value.equals(bytes), JSON.stringify(text));
  }
  const allowed = 'allowed: \\r \\n \\t \\\\ \\" \\xHH';
  const bad: [unknown, string][] = [
    ['PING\\q', `unknown escape "\\q" at character 5; ${allowed} (got "PING\\\\q")`],
    ['\\x0g', `"\\x" at character 1 must be followed by two hex digits; ${allowed} (got "\\\\x0g")`],
    ['\\x1', `"\\x" at character 1 must be followed by two hex digits; ${allowed} (got "\\\\x1")`],
    ['end\\', `ends with a lone "\\"; allowed escapes: \\r \\n \\t \\\\ \\" \\xHH (got "end\\\\")`],
    [1, 'must be a string (escapes \\r \\n \\t \\\\ \\" \\xHH allowed) (got 1)'],
  ];
  for (const [input, message] of bad) t.same(decodeEscapes(input), { ok: false, message }, String(input));
});
