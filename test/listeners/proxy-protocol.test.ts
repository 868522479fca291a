// The PROXY header encoder against HAProxy's spec (§2.1 v1, §2.2 v2): exact bytes written out by
// hand for a few headers, then a table of address forms round-tripped through the independent
// parser in test/support, then seeded random IPv6 forms checked against WHATWG URL parsing.
import t from 'tap';
import net from 'node:net';
import {
  encodeProxyV1,
  encodeProxyV2,
  encodeProxyV2Local,
  type ProxyEndpoint,
} from '../../src/listeners/proxy-protocol.js';
import { parseIpv6 } from '../../src/listeners/ip-bytes.js';
import { parseProxyHeader, V1_MAX_LINE_BYTES } from '../support/proxy-protocol-parser.js';
import { mulberry32, randomInt } from '../support/prng.js';

const SIG = '0d0a0d0a000d0a515549540a';
const hex = (s: string): string => s.replace(/\s+/g, '');
const ep = (ip: string, port: number): ProxyEndpoint => ({ ip, port });

t.test('v2 exact bytes, written out from §2.2', async (t) => {
  const cases: Array<{ name: string; got: Buffer; want: string }> = [
    {
      // The spec's own v1 example (§2.1), in binary: 56324 = 0xdc04, 443 = 0x01bb.
      name: 'TCP4 192.168.0.1:56324 → 192.168.0.11:443',
      got: encodeProxyV2(ep('192.168.0.1', 56324), ep('192.168.0.11', 443), 'stream'),
      want: `${SIG} 21 11 000c  c0a80001 c0a8000b  dc04 01bb`,
    },
    {
      name: 'UDP4 10.1.2.3:1 → 172.16.254.1:65535',
      got: encodeProxyV2(ep('10.1.2.3', 1), ep('172.16.254.1', 65535), 'dgram'),
      want: `${SIG} 21 12 000c  0a010203 ac10fe01  0001 ffff`,
    },
    {
      name: 'UDP6 [2001:db8::1]:1 → [fe80::1:2]:65535',
      got: encodeProxyV2(ep('2001:db8::1', 1), ep('fe80::1:2', 65535), 'dgram'),
      want: `${SIG} 21 22 0024  20010db8000000000000000000000001  fe800000000000000000000000010002  0001 ffff`,
    },
    {
      name: 'TCP6 [::]:0 → [::1]:443',
      got: encodeProxyV2(ep('::', 0), ep('::1', 443), 'stream'),
      want: `${SIG} 21 21 0024  00000000000000000000000000000000  00000000000000000000000000000001  0000 01bb`,
    },
    {
      name: 'mixed: IPv4 source mapped into TCP6, 256 = 0x0100, 255 = 0x00ff',
      got: encodeProxyV2(ep('10.0.0.1', 256), ep('::1', 255), 'stream'),
      want: `${SIG} 21 21 0024  00000000000000000000ffff0a000001  00000000000000000000000000000001  0100 00ff`,
    },
    {
      name: 'both IPv4-mapped: plain TCP4',
      got: encodeProxyV2(ep('::ffff:127.0.0.1', 80), ep('::ffff:7f00:2', 8080), 'stream'),
      want: `${SIG} 21 11 000c  7f000001 7f000002  0050 1f90`,
    },
    { name: 'LOCAL', got: encodeProxyV2Local(), want: `${SIG} 20 00 0000` },
    { name: 'invalid address: PROXY, AF_UNSPEC, no addresses', got: encodeProxyV2(ep('nope', 1), ep('::1', 2), 'stream'), want: `${SIG} 21 00 0000` },
  ];
  for (const c of cases) t.equal(c.got.toString('hex'), hex(c.want), c.name);
});

t.test('v1 exact lines (§2.1)', async (t) => {
  t.equal(encodeProxyV1(ep('192.168.0.1', 56324), ep('192.168.0.11', 443)).toString('latin1'), 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n', 'the spec example');
  t.equal(encodeProxyV1(ep('nope', 1), ep('1.2.3.4', 2)).toString('latin1'), 'PROXY UNKNOWN\r\n');
  const max4 = encodeProxyV1(ep('255.255.255.255', 65535), ep('255.255.255.255', 65535));
  t.equal(max4.length, 56, '§2.1 longest TCP4 line is 56 bytes');
  const full = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
  const max6 = encodeProxyV1(ep(full, 65535), ep(full, 65535));
  t.equal(max6.toString('latin1'), `PROXY TCP6 ${full} ${full} 65535 65535\r\n`);
  t.equal(max6.length, 104, '§2.1 longest TCP6 line is 104 bytes');
});

interface Row {
  name: string;
  src: ProxyEndpoint;
  dst: ProxyEndpoint;
  /** The exact v1 line, without the CRLF. */
  v1: string;
  /** What the parser must report for both versions; null family = unencodable input. */
  family: 'inet' | 'inet6' | null;
  srcIp?: string;
  dstIp?: string;
}

const row = (name: string, src: string, sport: number, dst: string, dport: number, v1: string, family: 'inet' | 'inet6', srcIp: string, dstIp: string): Row =>
  ({ name, src: ep(src, sport), dst: ep(dst, dport), v1, family, srcIp, dstIp });
const bad = (name: string, src: ProxyEndpoint, dst: ProxyEndpoint): Row => ({ name, src, dst, v1: 'PROXY UNKNOWN', family: null });

const rows: Row[] = [
  row('IPv4', '10.0.0.1', 40000, '10.0.0.2', 80, 'PROXY TCP4 10.0.0.1 10.0.0.2 40000 80', 'inet', '10.0.0.1', '10.0.0.2'),
  row('IPv4 zeros', '0.0.0.0', 0, '0.0.0.0', 0, 'PROXY TCP4 0.0.0.0 0.0.0.0 0 0', 'inet', '0.0.0.0', '0.0.0.0'),
  row('IPv6 ::1', '::1', 1, '::1', 2, 'PROXY TCP6 ::1 ::1 1 2', 'inet6', '::1', '::1'),
  row('IPv6 ::', '::', 0, '::', 65535, 'PROXY TCP6 :: :: 0 65535', 'inet6', '::', '::'),
  row('IPv6 2001:db8::1 / fe80::1:2', '2001:db8::1', 443, 'fe80::1:2', 8443, 'PROXY TCP6 2001:db8::1 fe80::1:2 443 8443', 'inet6', '2001:db8::1', 'fe80::1:2'),
  row('IPv6 two equal zero runs: the first is compressed', '2001:db8:0:0:1:0:0:1', 5, '::1', 6, 'PROXY TCP6 2001:db8::1:0:0:1 ::1 5 6', 'inet6', '2001:db8::1:0:0:1', '::1'),
  row('IPv6 the longest zero run is compressed', '1:0:0:2:0:0:0:3', 5, '1:0:2:3:4:5:6:7', 6, 'PROXY TCP6 1:0:0:2::3 1:0:2:3:4:5:6:7 5 6', 'inet6', '1:0:0:2::3', '1:0:2:3:4:5:6:7'),
  row('IPv6 full form, upper case, leading zeros', '2001:0DB8:0000:0000:0000:0000:0000:0001', 7, 'FE80:0000:0000:0000:0000:0000:0001:0002', 8, 'PROXY TCP6 2001:db8::1 fe80::1:2 7 8', 'inet6', '2001:db8::1', 'fe80::1:2'),
  row('IPv6 trailing :: standing for one group', '1:2:3:4:5:6:7::', 1, '1::', 2, 'PROXY TCP6 1:2:3:4:5:6:7:0 1:: 1 2', 'inet6', '1:2:3:4:5:6:7:0', '1::'),
  row('IPv6 leading :: standing for one group', '::2:3:4:5:6:7:8', 1, '::8', 2, 'PROXY TCP6 0:2:3:4:5:6:7:8 ::8 1 2', 'inet6', '0:2:3:4:5:6:7:8', '::8'),
  row('IPv6 embedded dotted quad (NAT64, not mapped)', '64:ff9b::192.0.2.33', 1, '::1.2.3.4', 2, 'PROXY TCP6 64:ff9b::c000:221 ::102:304 1 2', 'inet6', '64:ff9b::c000:221', '::102:304'),
  row('IPv6 zone dropped', 'fe80::1%eth0', 1, 'fe80::2%2', 2, 'PROXY TCP6 fe80::1 fe80::2 1 2', 'inet6', 'fe80::1', 'fe80::2'),
  row('mapped both: TCP4', '::ffff:10.0.0.1', 1000, '::ffff:10.0.0.2', 2000, 'PROXY TCP4 10.0.0.1 10.0.0.2 1000 2000', 'inet', '10.0.0.1', '10.0.0.2'),
  row('mapped in hex and full form: TCP4', '::FFFF:a00:1', 1, '0:0:0:0:0:ffff:1.2.3.4', 2, 'PROXY TCP4 10.0.0.1 1.2.3.4 1 2', 'inet', '10.0.0.1', '1.2.3.4'),
  row('mapped and plain IPv4: TCP4', '::ffff:192.0.2.1', 1, '198.51.100.7', 2, 'PROXY TCP4 192.0.2.1 198.51.100.7 1 2', 'inet', '192.0.2.1', '198.51.100.7'),
  row('mixed: IPv4 source mapped into TCP6', '10.0.0.1', 1, '2001:db8::1', 2, 'PROXY TCP6 ::ffff:a00:1 2001:db8::1 1 2', 'inet6', '::ffff:a00:1', '2001:db8::1'),
  row('mixed: mapped destination stays mapped in TCP6', '2001:db8::1', 1, '::ffff:10.0.0.2', 2, 'PROXY TCP6 2001:db8::1 ::ffff:a00:2 1 2', 'inet6', '2001:db8::1', '::ffff:a00:2'),
  bad('empty address', ep('', 1), ep('1.2.3.4', 2)),
  bad('three octets', ep('1.2.3', 1), ep('1.2.3.4', 2)),
  bad('five octets', ep('1.2.3.4.5', 1), ep('1.2.3.4', 2)),
  bad('octet 256', ep('1.2.3.4', 1), ep('256.0.0.1', 2)),
  bad('leading zero octet', ep('01.2.3.4', 1), ep('1.2.3.4', 2)),
  bad('trailing space', ep('1.2.3.4 ', 1), ep('1.2.3.4', 2)),
  bad('host name', ep('example.com', 1), ep('1.2.3.4', 2)),
  bad('nine groups', ep('1:2:3:4:5:6:7:8:9', 1), ep('::1', 2)),
  bad(':: with eight groups', ep('1:2:3:4:5:6:7::8', 1), ep('::1', 2)),
  bad('two ::', ep('1::2::3', 1), ep('::1', 2)),
  bad('five hex digits', ep('12345::', 1), ep('::1', 2)),
  bad('empty zone', ep('fe80::1%', 1), ep('::1', 2)),
  bad('lone leading colon', ep(':1:2:3:4:5:6:7', 1), ep('::1', 2)),
  bad('lone trailing colon', ep('1:2:3:4:5:6:7:', 1), ep('::1', 2)),
  bad('non-hex digit', ep('g::1', 1), ep('::1', 2)),
  bad('embedded quad with leading zero', ep('::ffff:1.2.3.04', 1), ep('::1', 2)),
  bad('port -1', ep('1.2.3.4', -1), ep('1.2.3.4', 2)),
  bad('port 65536', ep('1.2.3.4', 1), ep('1.2.3.4', 65536)),
  bad('port 1.5', ep('1.2.3.4', 1.5), ep('1.2.3.4', 2)),
  bad('port NaN', ep('1.2.3.4', 1), ep('1.2.3.4', Number.NaN)),
];

t.test('table: v1 and v2 (stream and dgram) round-trip through the parser', async (t) => {
  for (const r of rows) {
    t.test(r.name, async (t) => {
      const v1 = encodeProxyV1(r.src, r.dst);
      t.equal(v1.toString('latin1'), `${r.v1}\r\n`, 'v1 line');
      t.ok(v1.length <= V1_MAX_LINE_BYTES, `v1 line fits in ${V1_MAX_LINE_BYTES} bytes`);
      const p1 = parseProxyHeader(Buffer.concat([v1, Buffer.from('payload')]));
      t.equal(p1.headerLength, v1.length, 'v1 parser stops at the CRLF');
      if (r.family === null) {
        t.equal(p1.family, 'unspec');
      } else {
        t.match(p1, { version: 1, command: 'proxy', family: r.family, transport: 'stream', srcIp: r.srcIp, srcPort: r.src.port, dstIp: r.dstIp, dstPort: r.dst.port });
      }

      for (const transport of ['stream', 'dgram'] as const) {
        const v2 = encodeProxyV2(r.src, r.dst, transport);
        t.equal(v2.readUInt16BE(14), v2.length - 16, `v2 ${transport}: length field equals the bytes after it`);
        const p2 = parseProxyHeader(Buffer.concat([v2, Buffer.from('payload')]));
        t.equal(p2.headerLength, v2.length, `v2 ${transport}: parser stops at the end of the header`);
        if (r.family === null) {
          t.match(p2, { version: 2, command: 'proxy', family: 'unspec', transport: 'unspec', srcIp: null });
          t.equal(v2.length, 16);
        } else {
          t.match(p2, { version: 2, command: 'proxy', family: r.family, transport, srcIp: r.srcIp, srcPort: r.src.port, dstIp: r.dstIp, dstPort: r.dst.port, tlvs: [] });
          t.equal(v2.length, r.family === 'inet' ? 28 : 52);
        }
      }
    });
  }
});

t.test('ports are big-endian in v2 and plain decimal in v1', async (t) => {
  for (const port of [0, 1, 255, 256, 65535]) {
    const other = 65535 - port;
    const v4 = encodeProxyV2(ep('1.2.3.4', port), ep('5.6.7.8', other), 'stream');
    t.same([...v4.subarray(24, 28)], [port >> 8, port & 0xff, other >> 8, other & 0xff], `IPv4 ports ${port}, ${other}`);
    const v6 = encodeProxyV2(ep('::1', port), ep('::2', other), 'stream');
    t.same([...v6.subarray(48, 52)], [port >> 8, port & 0xff, other >> 8, other & 0xff], `IPv6 ports ${port}, ${other}`);
    t.equal(encodeProxyV1(ep('1.2.3.4', port), ep('5.6.7.8', other)).toString('latin1'), `PROXY TCP4 1.2.3.4 5.6.7.8 ${port} ${other}\r\n`);
  }
});

t.test('every call returns a new Buffer the caller may keep or change', async (t) => {
  const a = encodeProxyV2Local();
  a.fill(0);
  t.equal(encodeProxyV2Local().toString('hex'), `${SIG}20000000`);
  const b = encodeProxyV2(ep('1.2.3.4', 1), ep('::1', 2), 'stream');
  const c = encodeProxyV2(ep('1.2.3.4', 1), ep('::1', 2), 'stream');
  t.not(b, c);
  t.equal(b.toString('hex'), c.toString('hex'), 'no state leaks between calls');
});

t.test('parseIpv6 accepts exactly what net.isIPv6 accepts (without zones)', async (t) => {
  const inputs = [
    '::', '::1', '1::', '1::2', '::ffff:1.2.3.4', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5::1.2.3.4',
    ':', ':::', '1:::2', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::8', '::1:2:3:4:5:6:7:8', '1::2::3', '12345::',
    '1:2:3:4:5:6:7:1.2.3.4', '1:2:3:4:5:6::1.2.3.4', '::1.2.3', '::1.2.3.4.5', '::256.1.1.1', '::1.2.3.4:5',
    '1.2.3.4::', 'g::', '::-1', ' ::1', '::1 ', '', 'abcd', 'ABCD::EF01', '0000:0000:0000:0000:0000:0000:0000:0000',
  ];
  const out = new Uint8Array(16);
  for (const s of inputs) t.equal(parseIpv6(s, 0, s.length, out, 0), net.isIPv6(s), JSON.stringify(s));
});

t.test('seeded random IPv6 forms: bytes and v1 text agree with WHATWG URL parsing', async (t) => {
  const random = mulberry32(0x5eed);
  const pad = (g: number): string => g.toString(16).padStart(randomInt(random, 4) + 1, '0');
  const casing = (s: string): string => (random() < 0.5 ? s.toUpperCase() : s);
  const mismatches: string[] = [];
  let checked = 0;
  for (let n = 0; n < 2000; n++) {
    const groups = Array.from({ length: 8 }, () => (random() < 0.45 ? 0 : randomInt(random, 0x10000)));
    const bytes = Buffer.alloc(16);
    groups.forEach((g, i) => bytes.writeUInt16BE(g, i * 2));
    let text: string;
    const form = randomInt(random, 3);
    if (form === 0) {
      text = casing(groups.map(pad).join(':'));
    } else if (form === 1) {
      // `::` over a random run of zero groups (length ≥ 1), not necessarily the longest.
      const zeros = groups.map((g, i) => (g === 0 ? i : -1)).filter((i) => i >= 0);
      if (zeros.length === 0) continue;
      const from = zeros[randomInt(random, zeros.length)]!;
      let to = from;
      while (to + 1 < 8 && groups[to + 1] === 0 && random() < 0.8) to++;
      text = casing(`${groups.slice(0, from).map(pad).join(':')}::${groups.slice(to + 1).map(pad).join(':')}`);
    } else {
      text = `${groups.slice(0, 6).map(pad).join(':')}:${[...bytes.subarray(12)].join('.')}`;
    }
    const canonical = new URL(`http://[${text}]/`).hostname.slice(1, -1);
    const v2 = encodeProxyV2(ep(text, 1), ep('2001:db8::1', 2), 'stream');
    const v1 = encodeProxyV1(ep(text, 1), ep('2001:db8::1', 2)).toString('latin1');
    // One assert for the lot keeps the run fast; a mismatch names its input.
    if (v2.subarray(16, 32).toString('hex') !== bytes.toString('hex')) mismatches.push(`v2 bytes of ${text}`);
    if (v1 !== `PROXY TCP6 ${canonical} 2001:db8::1 1 2\r\n`) mismatches.push(`v1 text of ${text}: ${JSON.stringify(v1)}`);
    checked++;
  }
  t.same(mismatches, []);
  t.ok(checked > 1500, `${checked} forms checked`);
});

t.test('the test parser refuses what the spec refuses (so round-trips above mean something)', async (t) => {
  const v2 = (rest: string): Buffer => Buffer.from(hex(SIG + rest), 'hex');
  const v1 = (s: string): Buffer => Buffer.from(s, 'latin1');
  const cases: Array<[string, Buffer, string]> = [
    ['not PROXY at all', v1('GET / HTTP/1.1\r\n'), 'bad_signature'],
    ['v1 lone LF', v1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'), 'bad_line'],
    ['v1 lone CR inside', v1('PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n'), 'bad_line'],
    ['v1 no CRLF yet', v1('PROXY TCP4 1.2.3.4'), 'incomplete'],
    ['v1 no CRLF in 107 bytes', v1(`PROXY UNKNOWN ${'x'.repeat(100)}\r\n`), 'bad_line'],
    ['v1 double space', v1('PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n'), 'bad_line'],
    ['v1 extra field', v1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n'), 'bad_line'],
    ['v1 TCP5', v1('PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n'), 'bad_line'],
    ['v1 octet with leading zero', v1('PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n'), 'bad_address'],
    ['v1 TCP4 with IPv6', v1('PROXY TCP4 ::1 5.6.7.8 1 2\r\n'), 'bad_address'],
    ['v1 TCP6 with IPv4', v1('PROXY TCP6 1.2.3.4 ::1 1 2\r\n'), 'bad_address'],
    ['v1 TCP6 with zone', v1('PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'), 'bad_address'],
    ['v1 port with leading zero', v1('PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n'), 'bad_port'],
    ['v1 port 65536', v1('PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n'), 'bad_port'],
    ['v2 short fixed part', v2('21 11'), 'incomplete'],
    ['v2 version 1', v2('11 11 000c 01020304 05060708 0001 0002'), 'bad_version'],
    ['v2 command 2', v2('22 11 000c 01020304 05060708 0001 0002'), 'bad_command'],
    ['v2 family 4', v2('21 41 000c 01020304 05060708 0001 0002'), 'bad_family'],
    ['v2 transport 3', v2('21 13 000c 01020304 05060708 0001 0002'), 'bad_transport'],
    ['v2 length too small for INET', v2('21 11 0008 01020304 05060708'), 'bad_length'],
    ['v2 truncated address block', v2('21 11 000c 01020304 0506'), 'incomplete'],
    ['v2 TLV overruns the header', v2('21 11 0010 01020304 05060708 0001 0002 04 0005 00'), 'bad_tlv'],
    ['v2 stray bytes after the addresses', v2('21 11 000e 01020304 05060708 0001 0002 0400'), 'bad_tlv'],
  ];
  for (const [name, buf, code] of cases) t.throws(() => parseProxyHeader(buf), { code }, name);

  const withTlv = parseProxyHeader(Buffer.concat([v2('21 11 0011 01020304 05060708 0001 0002 04 0002 abcd'), v1('payload')]));
  t.match(withTlv, { srcIp: '1.2.3.4', dstPort: 2, headerLength: 33, tlvs: [{ type: 4, length: 2 }] }, 'TLVs are skipped by their length');
  t.match(parseProxyHeader(v2('20 11 000c 01020304 05060708 0001 0002')), { command: 'local', srcIp: null, headerLength: 28 }, 'LOCAL ignores the address block');
  t.match(parseProxyHeader(v1('PROXY UNKNOWN whatever\r\n')), { family: 'unspec', headerLength: 24 }, 'UNKNOWN ignores the rest of the line');
});
