// readProxyHeader against HAProxy's spec (§2.1 v1 line, §2.2 v2 header and TLVs): a table of
// headers written out by hand, then fast-check properties with a fixed seed: the encoder's
// headers decode to the same addresses, every prefix of a valid header is "need more", and
// random or mutated bytes never throw and never yield a header longer than the input.
import t, { type Test } from 'tap';
import fc from 'fast-check';
import net from 'node:net';
import { encodeProxyV1, encodeProxyV2, encodeProxyV2Local } from '../../src/listeners/proxy-protocol.js';
import {
  PROXY_V1_MAX_BYTES,
  PROXY_V2_MAX_BYTES,
  readProxyHeader,
  type ProxyHeader,
  type ProxyHeaderRead,
} from '../../src/listeners/proxy-header-reader.js';

// Deterministic: the same cases on every run; a failure prints its seed and path to replay.
fc.configureGlobal({ seed: 0x11ee_4e17, numRuns: 1000 });

const SIG = '0d0a0d0a000d0a515549540a';
const v2 = (rest: string): Buffer => Buffer.from(SIG + rest.replace(/\s+/g, ''), 'hex');
const v1 = (s: string): Buffer => Buffer.from(s, 'latin1');

/** The header, or a failed assertion naming what came back instead. */
function headerOf(t: Test, input: Uint8Array, name: string): ProxyHeader | null {
  const r = readProxyHeader(input);
  if (r.kind === 'header') return r.header;
  t.fail(`${name}: expected a header, got ${JSON.stringify(r)}`);
  return null;
}

/** Run a property under the global seed; one assertion, with fast-check's report on failure. */
function holds<Ts extends unknown[]>(t: Test, name: string, property: fc.IRawProperty<Ts, false>): void {
  const details = fc.check(property);
  t.notOk(details.failed, details.failed ? `${name}\n${fc.defaultReportMessage(details) ?? ''}` : name);
}

/** WHATWG URL host parsing: a canonical IPv6 form (RFC 5952, hex only) from outside both codecs. */
const canonical6 = (ip: string): string => new URL(`http://[${ip}]/`).hostname.slice(1, -1);
const isMapped = (ip: string): boolean => /^::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}$/.test(canonical6(ip));
/** A mapped IPv6 address as the dotted quad it stands for. */
const unmap = (ip: string): string => {
  const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical6(ip))!;
  const hi = parseInt(m[1]!, 16);
  const lo = parseInt(m[2]!, 16);
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
};

function check(t: Test, name: string, input: Uint8Array, want: Partial<ProxyHeader> | { kind: 'need-more' } | { code: string }): void {
  const r = readProxyHeader(input);
  if ('kind' in want) t.same(r, { kind: 'need-more' }, name);
  else if ('code' in want) t.match(r, { kind: 'invalid', code: want.code, reason: String }, name);
  else t.match(r, { kind: 'header', header: want }, name);
}

t.test('v1 lines from §2.1', async (t) => {
  const ex = 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n';
  const r = headerOf(t, v1(`${ex}GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n`), 'the spec example');
  t.same(r, {
    version: 1,
    command: 'proxy',
    family: 'inet',
    transport: 'stream',
    source: { ip: '192.168.0.1', port: 56324 },
    destination: { ip: '192.168.0.11', port: 443 },
    length: ex.length,
    tlvs: [],
  }, 'the spec example, payload after it untouched');

  const f39 = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
  const longest6 = `PROXY TCP6 ${f39} ${f39} 65535 65535\r\n`;
  const worst = `PROXY UNKNOWN ${f39} ${f39} 65535 65535\r\n`;
  t.equal(`PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n`.length, 56, '§2.1: 56 chars');
  t.equal(longest6.length, 104, '§2.1: 104 chars');
  t.equal(worst.length, PROXY_V1_MAX_BYTES, '§2.1: the worst case is the limit');

  const cases: Array<[string, string, Partial<ProxyHeader> | { kind: 'need-more' } | { code: string }]> = [
    ['longest TCP4', 'PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n', { source: { ip: '255.255.255.255', port: 65535 }, length: 56 }],
    ['longest TCP6', longest6, { family: 'inet6', source: { ip: f39, port: 65535 }, length: 104 }],
    ['UNKNOWN, short form', 'PROXY UNKNOWN\r\n', { family: 'unspec', transport: 'unspec', source: null, destination: null, length: 15 }],
    ['UNKNOWN, worst case 107 bytes', worst, { family: 'unspec', length: 107 }],
    ['UNKNOWN ignores what follows, even bytes no other line allows', 'PROXY UNKNOWN \x00\x7f\xff junk\r\n', { family: 'unspec', length: 24 }],
    ['zeroes', 'PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n', { source: { ip: '0.0.0.0', port: 0 }, destination: { ip: '0.0.0.0', port: 0 } }],
    ['TCP6 upper case hex, written canonical', 'PROXY TCP6 2001:DB8:0:0:0:0:0:1 FE80::0001 1 2\r\n', { source: { ip: '2001:db8::1', port: 1 }, destination: { ip: 'fe80::1', port: 2 } }],
    ['TCP6 all zero', 'PROXY TCP6 :: ::1 1 2\r\n', { source: { ip: '::', port: 1 }, destination: { ip: '::1', port: 2 } }],
    ['TCP6 with a dotted tail (inet_ntop writes mapped addresses so)', 'PROXY TCP6 ::ffff:10.0.0.1 ::1 1 2\r\n', { family: 'inet6', source: { ip: '::ffff:a00:1', port: 1 } }],
    ['no CRLF yet', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2', { kind: 'need-more' }],
    ['CR, LF not yet', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r', { kind: 'need-more' }],
    ['"PROX"', 'PROX', { kind: 'need-more' }],
    ['"PROXY "', 'PROXY ', { kind: 'need-more' }],
    ['106 bytes, no CRLF: a CRLF may still end the line at 107', `PROXY UNKNOWN ${'x'.repeat(91)}`, { kind: 'need-more' }],
    ['105 bytes then CR: the LF would be byte 107', `PROXY UNKNOWN ${'x'.repeat(91)}\r`, { kind: 'need-more' }],
    ['106 bytes then CR: the LF would be byte 108', `PROXY UNKNOWN ${'x'.repeat(92)}\r`, { code: 'bad_line' }],
    ['107 bytes, no CRLF', `PROXY UNKNOWN ${'x'.repeat(93)}`, { code: 'bad_line' }],
    ['108-byte UNKNOWN line', `PROXY UNKNOWN ${'x'.repeat(92)}\r\n`, { code: 'bad_line' }],
    ['lone LF', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', { code: 'bad_line' }],
    ['lone CR inside', 'PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n', { code: 'bad_line' }],
    ['lone CR in UNKNOWN', 'PROXY UNKNOWN a\rb\r\n', { code: 'bad_line' }],
    ['lower case proxy', 'proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n', { code: 'bad_signature' }],
    ['tab after PROXY', 'PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n', { code: 'bad_line' }],
    ['not PROXY at all', 'GET / HTTP/1.1\r\n', { code: 'bad_signature' }],
    ['POST: refused at its second byte', 'PO', { code: 'bad_signature' }],
    ['double space', 'PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n', { code: 'bad_line' }],
    ['trailing space', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n', { code: 'bad_line' }],
    ['extra field', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n', { code: 'bad_line' }],
    ['missing field', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', { code: 'bad_line' }],
    ['protocol alone', 'PROXY TCP4\r\n', { code: 'bad_line' }],
    ['empty protocol', 'PROXY \r\n', { code: 'bad_line' }],
    ['TCP5', 'PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n', { code: 'bad_line' }],
    ['UDP4 is no v1 protocol', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n', { code: 'bad_line' }],
    ['UNKNOWNX', 'PROXY UNKNOWNX\r\n', { code: 'bad_line' }],
    ['octet with a heading zero', 'PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n', { code: 'bad_address' }],
    ['octet 256', 'PROXY TCP4 1.2.3.4 5.6.7.256 1 2\r\n', { code: 'bad_address' }],
    ['three octets', 'PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n', { code: 'bad_address' }],
    ['TCP4 with IPv6', 'PROXY TCP4 ::1 5.6.7.8 1 2\r\n', { code: 'bad_address' }],
    ['TCP6 with IPv4', 'PROXY TCP6 1.2.3.4 ::1 1 2\r\n', { code: 'bad_address' }],
    ['TCP6 with a zone', 'PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n', { code: 'bad_address' }],
    ['TCP6 with two ::', 'PROXY TCP6 1::2::3 ::1 1 2\r\n', { code: 'bad_address' }],
    ['TCP6 with nine groups', 'PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n', { code: 'bad_address' }],
    ['TCP6 group of five digits', 'PROXY TCP6 12345:: ::1 1 2\r\n', { code: 'bad_address' }],
    ['port with a heading zero', 'PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n', { code: 'bad_port' }],
    ['port 65536', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n', { code: 'bad_port' }],
    ['port with a sign', 'PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n', { code: 'bad_port' }],
    ['port in hex', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 0x10\r\n', { code: 'bad_port' }],
  ];
  for (const [name, text, want] of cases) check(t, name, v1(text), want);
});

t.test('v2 headers from §2.2', async (t) => {
  const unix = (fam: string, extra = ''): Buffer => {
    const path = (s: string): string => Buffer.from(s.padEnd(108, '\0'), 'latin1').toString('hex');
    const block = path('/run/a.sock') + path('/run/b.sock') + extra.replace(/\s+/g, '');
    return v2(`21 ${fam} ${(block.length / 2).toString(16).padStart(4, '0')} ${block}`);
  };
  const cases: Array<[string, Buffer, Partial<ProxyHeader> | { kind: 'need-more' } | { code: string }]> = [
    ['TCP4 (0x11)', v2('21 11 000c c0a80001 c0a8000b dc04 01bb'), {
      version: 2, command: 'proxy', family: 'inet', transport: 'stream',
      source: { ip: '192.168.0.1', port: 56324 }, destination: { ip: '192.168.0.11', port: 443 }, length: 28, tlvs: [],
    }],
    ['UDP4 (0x12)', v2('21 12 000c 0a010203 ac10fe01 0001 ffff'), { transport: 'dgram', source: { ip: '10.1.2.3', port: 1 }, destination: { ip: '172.16.254.1', port: 65535 } }],
    ['TCP6 (0x21)', v2('21 21 0024 20010db8000000000000000000000001 fe800000000000000000000000010002 0001 ffff'), {
      family: 'inet6', transport: 'stream', source: { ip: '2001:db8::1', port: 1 }, destination: { ip: 'fe80::1:2', port: 65535 }, length: 52,
    }],
    ['UDP6 (0x22), mapped source stays IPv6 text', v2('21 22 0024 00000000000000000000ffff0a000001 00000000000000000000000000000001 0100 00ff'), {
      family: 'inet6', transport: 'dgram', source: { ip: '::ffff:a00:1', port: 256 }, destination: { ip: '::1', port: 255 },
    }],
    ['UNIX stream (0x31): accepted, reported as unix without addresses', unix('31'), { family: 'unix', transport: 'stream', source: null, destination: null, length: 16 + 216 }],
    ['UNIX dgram (0x32) with a TLV after the paths', unix('32', '04 0001 00'), { family: 'unix', transport: 'dgram', length: 16 + 216 + 4, tlvs: [{ type: 4, value: Buffer.from([0]) }] }],
    ['UNIX with only 36 address bytes', v2(`21 31 0024 ${'00'.repeat(36)}`), { code: 'bad_length' }],
    ['LOCAL (the encoder\'s health-check header)', encodeProxyV2Local(), { command: 'local', family: 'unspec', transport: 'unspec', source: null, length: 16 }],
    ['LOCAL with an address block: skipped by its length, not read', v2('20 11 000c 01020304 05060708 0001 0002'), { command: 'local', family: 'inet', source: null, length: 28, tlvs: [] }],
    ['LOCAL with a block too short for its family: still skipped', v2('20 21 0002 abcd'), { command: 'local', length: 18 }],
    ['PROXY UNSPEC (0x00): no addresses, the block skipped', v2('21 00 0003 010203'), { command: 'proxy', family: 'unspec', transport: 'unspec', source: null, length: 19 }],
    ['PROXY INET + UNSPEC transport (0x10): no ports, so no addresses', v2('21 10 0008 01020304 05060708'), { family: 'inet', transport: 'unspec', source: null, length: 24 }],
    ['TLVs in order: NOOP, AUTHORITY', v2(`21 11 0019 01020304 05060708 0001 0002  04 0000  02 0007 ${Buffer.from('example').toString('hex')}`), {
      length: 16 + 25, tlvs: [{ type: 4, value: Buffer.alloc(0) }, { type: 2, value: Buffer.from('example') }],
    }],
    ['signature only', v2(''), { kind: 'need-more' }],
    ['up to the family byte', v2('21 11'), { kind: 'need-more' }],
    ['truncated address block', v2('21 11 000c 01020304 0506'), { kind: 'need-more' }],
    ['length 65535, 100 bytes there', v2(`21 11 ffff ${'00'.repeat(100)}`), { kind: 'need-more' }],
    ['signature with byte 4 not NUL', Buffer.from('0d0a0d0a010d0a515549540a2111000c', 'hex'), { code: 'bad_signature' }],
    ['signature cut, then wrong', Buffer.from('0d0a0d0a00', 'hex'), { kind: 'need-more' }],
    ['CRLF CRLF then text', v1('\r\n\r\nhello'), { code: 'bad_signature' }],
    ['version 1', v2('11 11 000c 01020304 05060708 0001 0002'), { code: 'bad_version' }],
    ['version 3, refused at byte 13', v2('31'), { code: 'bad_version' }],
    ['command 2', v2('22 11 000c 01020304 05060708 0001 0002'), { code: 'bad_command' }],
    ['command 15', v2('2f'), { code: 'bad_command' }],
    ['family 4', v2('21 41 000c 01020304 05060708 0001 0002'), { code: 'bad_family' }],
    ['transport 3', v2('21 13 000c 01020304 05060708 0001 0002'), { code: 'bad_transport' }],
    ['family checked for LOCAL too', v2('20 f0 0000'), { code: 'bad_family' }],
    ['INET length 8: refused before the block arrives', v2('21 11 0008'), { code: 'bad_length' }],
    ['INET6 length 12', v2('21 21 000c 01020304 05060708 0001 0002'), { code: 'bad_length' }],
    ['TLV overruns the header', v2('21 11 0010 01020304 05060708 0001 0002 04 0005 00'), { code: 'bad_tlv' }],
    ['stray bytes after the addresses', v2('21 11 000e 01020304 05060708 0001 0002 0400'), { code: 'bad_tlv' }],
    ['one stray byte', v2('21 11 000d 01020304 05060708 0001 0002 04'), { code: 'bad_tlv' }],
  ];
  for (const [name, buf, want] of cases) check(t, name, buf, want);

  const withPayload = headerOf(t, Buffer.concat([v2('21 11 000c 01020304 05060708 0001 0002'), v1('\r\n\r\n\0\r\nQUIT\n payload')]), 'payload after');
  t.equal(withPayload?.length, 28, 'the payload, even one that looks like a header, is not read');
  t.equal(PROXY_V2_MAX_BYTES, 65551);
  const max = Buffer.concat([v2(`21 11 ffff 01020304 05060708 0001 0002 f0 ${(0xffff - 12 - 3).toString(16)}`), Buffer.alloc(0xffff - 12 - 3)]);
  t.equal(max.length, PROXY_V2_MAX_BYTES);
  t.match(readProxyHeader(max), { kind: 'header', header: { length: PROXY_V2_MAX_BYTES, tlvs: [{ type: 0xf0 }] } }, 'the longest v2 header');

  const input = v2('21 11 000f 01020304 05060708 0001 0002 e0 0000');
  const copy = Buffer.from(input);
  readProxyHeader(input);
  t.same(input, copy, 'the input is not changed');
  const u8 = new Uint8Array(input);
  t.match(readProxyHeader(u8), { kind: 'header', header: { length: 31 } }, 'a plain Uint8Array works');
});

t.test('v1 IPv6 forms: accepted exactly when net.isIPv6 accepts them (no zones)', async (t) => {
  const forms = [
    '::', '::1', '1::', '1::2', '::ffff:1.2.3.4', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5::1.2.3.4',
    ':', ':::', '1:::2', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::8', '::1:2:3:4:5:6:7:8', '1::2::3', '12345::',
    '1:2:3:4:5:6:7:1.2.3.4', '1:2:3:4:5:6::1.2.3.4', '::1.2.3', '::1.2.3.4.5', '::256.1.1.1', '::1.2.3.4:5',
    '::1.2.3.04', '1.2.3.4::', 'g::', '::-1', '1:', ':1', 'abcd', 'ABCD::EF01', '0000:0000:0000:0000:0000:0000:0000:0000',
  ];
  for (const s of forms) {
    const r = readProxyHeader(v1(`PROXY TCP6 ${s} ::1 1 2\r\n`));
    if (net.isIPv6(s)) t.match(r, { kind: 'header', header: { source: { ip: canonical6(s) } } }, `${s}: accepted as ${canonical6(s)}`);
    else t.match(r, { kind: 'invalid', code: 'bad_address' }, `${s}: refused`);
  }
});

// ---- properties ----

const port = fc.integer({ min: 0, max: 65535 });
/** An end as Node might report it: IPv4, or IPv6 in any textual form fast-check writes. */
const ip = fc.oneof(fc.ipV4(), fc.ipV6());
const endpoint = fc.record({ ip, port });

/** What the decoder must report for an address the encoder was given. */
function expected(src: string, dst: string): { family: 'inet' | 'inet6'; src: string; dst: string } {
  const four = (x: string): boolean => net.isIPv4(x) || isMapped(x);
  const as4 = (x: string): string => (net.isIPv4(x) ? x : unmap(x));
  if (four(src) && four(dst)) return { family: 'inet', src: as4(src), dst: as4(dst) };
  // §2.1/§2.2 one family per header: the encoder maps an IPv4 end into IPv6.
  const as6 = (x: string): string => canonical6(net.isIPv4(x) ? `::ffff:${x}` : x);
  return { family: 'inet6', src: as6(src), dst: as6(dst) };
}

t.test('property: encoded headers decode to the same addresses', async (t) => {
  holds(t, 'v1 round trip', fc.property(endpoint, endpoint, fc.uint8Array({ maxLength: 40 }), (s, d, payload) => {
    const want = expected(s.ip, d.ip);
    const wire = encodeProxyV1(s, d);
    const r = readProxyHeader(Buffer.concat([wire, payload]));
    return r.kind === 'header' && r.header.version === 1 && r.header.family === want.family && r.header.transport === 'stream'
      && r.header.length === wire.length && r.header.length <= PROXY_V1_MAX_BYTES
      && r.header.source?.ip === want.src && r.header.source.port === s.port
      && r.header.destination?.ip === want.dst && r.header.destination.port === d.port;
  }));
  for (const transport of ['stream', 'dgram'] as const) {
    holds(t, `v2 ${transport} round trip`, fc.property(endpoint, endpoint, fc.uint8Array({ maxLength: 40 }), (s, d, payload) => {
      const want = expected(s.ip, d.ip);
      const wire = encodeProxyV2(s, d, transport);
      const r = readProxyHeader(Buffer.concat([wire, payload]));
      return r.kind === 'header' && r.header.version === 2 && r.header.command === 'proxy' && r.header.family === want.family
        && r.header.transport === transport && r.header.length === wire.length && r.header.tlvs.length === 0
        && r.header.source?.ip === want.src && r.header.source.port === s.port
        && r.header.destination?.ip === want.dst && r.header.destination.port === d.port;
    }));
  }
});

/** A v2 header with random addresses and a random TLV chain, built here byte by byte. */
const v2WithTlvs = fc
  .record({
    cmd: fc.constantFrom(0x20, 0x21),
    fam: fc.constantFrom(0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32),
    tlvs: fc.array(fc.record({ type: fc.integer({ min: 0, max: 255 }), value: fc.uint8Array({ maxLength: 24 }) }), { maxLength: 5 }),
    fill: fc.integer({ min: 0, max: 255 }),
  })
  .map(({ cmd, fam, tlvs, fill }) => {
    const addressBytes = [0, 12, 36, 216][fam >> 4]!;
    const chain = Buffer.concat(tlvs.map((x) => Buffer.concat([Buffer.from([x.type, x.value.length >> 8, x.value.length & 0xff]), x.value])));
    const block = Buffer.concat([Buffer.alloc(addressBytes, fill), chain]);
    const head = Buffer.from(SIG + cmd.toString(16) + fam.toString(16).padStart(2, '0'), 'hex');
    const len = Buffer.from([block.length >> 8, block.length & 0xff]);
    const parsed = cmd === 0x21 && (fam & 0x0f) !== 0 && fam >> 4 !== 0;
    return { bytes: Buffer.concat([head, len, block]), tlvs: parsed ? tlvs : [] };
  });

const validHeader = fc.oneof(
  fc.tuple(endpoint, endpoint).map(([s, d]) => encodeProxyV1(s, d)),
  fc.tuple(endpoint, endpoint, fc.constantFrom('stream' as const, 'dgram' as const)).map(([s, d, tr]) => encodeProxyV2(s, d, tr)),
  v2WithTlvs.map((h) => h.bytes),
  fc.constant(encodeProxyV2Local()),
  fc.constant(v1('PROXY UNKNOWN\r\n')),
);

t.test('property: every prefix of a valid header is "need more"', async (t) => {
  holds(t, 'prefixes', fc.property(validHeader, (h) => {
    for (let k = 0; k < h.length; k++) {
      // A view into the whole header: any read past the view's end would see real bytes.
      if (readProxyHeader(h.subarray(0, k)).kind !== 'need-more') return false;
    }
    const r = readProxyHeader(h);
    return r.kind === 'header' && r.header.length === h.length;
  }));
  holds(t, 'v2 TLV chains are returned whole and in order', fc.property(v2WithTlvs, (h) => {
    const r = readProxyHeader(h.bytes);
    if (r.kind !== 'header') return false;
    return r.header.tlvs.length === h.tlvs.length
      && r.header.tlvs.every((x, i) => x.type === h.tlvs[i]!.type && Buffer.from(x.value).equals(Buffer.from(h.tlvs[i]!.value)));
  }));
});

/** The invariants every result keeps, whatever the input. */
function sound(input: Uint8Array, r: ProxyHeaderRead): boolean {
  if (r.kind === 'need-more') return input.length < PROXY_V2_MAX_BYTES;
  if (r.kind === 'invalid') return typeof r.code === 'string' && r.reason.length > 0;
  const h = r.header;
  if (h.length < 15 || h.length > input.length) return false;
  if ((h.source === null) !== (h.destination === null)) return false;
  if (h.source !== null && h.destination !== null) {
    const okIp = (a: string): boolean => (h.family === 'inet' ? net.isIPv4(a) : net.isIPv6(a) && canonical6(a) === a);
    if (!okIp(h.source.ip) || !okIp(h.destination.ip)) return false;
    if (!Number.isInteger(h.source.port) || h.source.port < 0 || h.source.port > 65535) return false;
  }
  return h.tlvs.every((x) => x.type >= 0 && x.type <= 255);
}

t.test('property: random and mutated bytes never throw and never overrun', async (t) => {
  holds(t, 'random bytes', fc.property(fc.uint8Array({ maxLength: 300 }), (b) => sound(b, readProxyHeader(b))));
  const sig = Buffer.from(SIG, 'hex');
  holds(t, 'random bytes after the v2 signature', fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
    const input = Buffer.concat([sig, b]);
    return sound(input, readProxyHeader(input));
  }));
  holds(t, 'random bytes after "PROXY "', fc.property(fc.uint8Array({ maxLength: 120 }), (b) => {
    const input = Buffer.concat([v1('PROXY '), b]);
    return sound(input, readProxyHeader(input));
  }));
  holds(t, 'random text lines', fc.property(fc.string({ unit: fc.constantFrom(...'PROXY TCP46UNKW0123456789abcdef.:\r\n '), maxLength: 110 }), (s) => {
    const input = v1(`PROXY ${s}`);
    return sound(input, readProxyHeader(input));
  }));
  const mutation = fc.oneof(
    fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ op: fc.constant('cut' as const), at: fc.nat(), byte: fc.constant(0) }),
    fc.record({ op: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ op: fc.constant('delete' as const), at: fc.nat(), byte: fc.constant(0) }),
  );
  holds(t, 'mutated valid headers', fc.property(validHeader, fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.uint8Array({ maxLength: 16 }), (h, muts, payload) => {
    let b = Buffer.concat([h, payload]);
    for (const m of muts) {
      const at = b.length === 0 ? 0 : m.at % b.length;
      if (m.op === 'set' && b.length > 0) b[at] = m.byte;
      else if (m.op === 'cut') b = b.subarray(0, at);
      else if (m.op === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([m.byte]), b.subarray(at)]);
      else if (m.op === 'delete' && b.length > 0) b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
    }
    return sound(b, readProxyHeader(b));
  }));
});

t.test('property: v1 field syntax is exactly the address and port grammar', async (t) => {
  const line = (src: string, dst: string, sp: string, dp: string, proto = 'TCP6'): Buffer => v1(`PROXY ${proto} ${src} ${dst} ${sp} ${dp}\r\n`);
  holds(t, 'IPv6 text accepted exactly when net.isIPv6 accepts it, and written canonical', fc.property(
    fc.oneof(fc.ipV6(), fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:.'), maxLength: 45 })),
    (s) => {
      const r = readProxyHeader(line(s, '::1', '1', '2'));
      if (!net.isIPv6(s)) return r.kind === 'invalid' && r.code === (s === '' ? 'bad_line' : 'bad_address');
      return r.kind === 'header' && r.header.source?.ip === canonical6(s);
    },
  ));
  holds(t, 'IPv4 text accepted exactly when net.isIPv4 accepts it (no heading zeroes)', fc.property(
    fc.oneof(fc.ipV4(), fc.string({ unit: fc.constantFrom(...'0123456789.'), maxLength: 17 })),
    (s) => {
      const r = readProxyHeader(line('1.2.3.4', s, '1', '2', 'TCP4'));
      if (!net.isIPv4(s)) return r.kind === 'invalid' && r.code === (s === '' ? 'bad_line' : 'bad_address');
      return r.kind === 'header' && r.header.destination?.ip === s;
    },
  ));
  holds(t, 'ports: decimal 0..65535, no heading zeroes', fc.property(
    fc.oneof(port.map(String), fc.string({ unit: fc.constantFrom(...'0123456789+-x '), minLength: 1, maxLength: 7 })),
    (s) => {
      const r = readProxyHeader(line('::1', '::2', '7', s));
      const valid = /^(0|[1-9][0-9]{0,4})$/.test(s) && Number(s) <= 65535;
      // A space makes more fields or an empty one: the line, not the port, is wrong.
      if (!valid) return r.kind === 'invalid' && r.code === (s.includes(' ') ? 'bad_line' : 'bad_port');
      return r.kind === 'header' && r.header.destination?.port === Number(s);
    },
  ));
});
