// A strict PROXY protocol receiver for tests, written from HAProxy's "The PROXY protocol
// Versions 1 & 2" (§2.1 v1 line, §2.2 v2 binary header and TLVs), sharing no code with
// src/listeners/proxy-protocol.ts. IPv6 text goes through WHATWG URL host parsing, so both
// versions report one canonical form (RFC 5952 style, hex only: `::ffff:102:304`).
import net from 'node:net';

/** Why a header was refused. `incomplete` alone means "more bytes may make it valid". */
export type ProxyHeaderErrorCode =
  | 'incomplete'
  | 'bad_signature'
  | 'bad_line'
  | 'bad_version'
  | 'bad_command'
  | 'bad_family'
  | 'bad_transport'
  | 'bad_length'
  | 'bad_address'
  | 'bad_port'
  | 'bad_tlv';

export class ProxyHeaderError extends Error {
  constructor(
    readonly code: ProxyHeaderErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'ProxyHeaderError';
  }
}

export interface ParsedProxyHeader {
  /** 1 for the text line, 2 for the binary header. */
  readonly version: 1 | 2;
  /** v1 is always 'proxy'; v2 LOCAL is 'local' (addresses ignored, as §2.2 requires). */
  readonly command: 'proxy' | 'local';
  /** v1 TCP4/TCP6/UNKNOWN map to inet/inet6/unspec. */
  readonly family: 'inet' | 'inet6' | 'unix' | 'unspec';
  /** v1 TCP is 'stream'; v1 UNKNOWN is 'unspec'. */
  readonly transport: 'stream' | 'dgram' | 'unspec';
  /** Dotted quad, or canonical IPv6 text; null when the header carries no IP address. */
  readonly srcIp: string | null;
  readonly srcPort: number | null;
  readonly dstIp: string | null;
  readonly dstPort: number | null;
  /** Bytes from the start of the buffer to the first byte after the header (payload offset). */
  readonly headerLength: number;
  /** v2 only: the TLVs after the addresses, checked for framing, values not interpreted. */
  readonly tlvs: ReadonlyArray<{ readonly type: number; readonly length: number }>;
}

const SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');
/** §2.1: the longest line a receiver must take, CRLF included. */
export const V1_MAX_LINE_BYTES = 107;

/**
 * Parse the PROXY header at the start of `buf` (payload may follow). Throws ProxyHeaderError;
 * code 'incomplete' when `buf` is a valid prefix that is too short to decide.
 */
export function parseProxyHeader(buf: Buffer): ParsedProxyHeader {
  // §2.2: v2 when the 12-byte signature plus version 2 match; v1 when "PROXY" starts the data.
  const sigBytes = Math.min(buf.length, SIGNATURE.length);
  if (sigBytes > 0 && buf.subarray(0, sigBytes).equals(SIGNATURE.subarray(0, sigBytes))) {
    if (buf.length < 16) throw new ProxyHeaderError('incomplete', `v2 needs 16 bytes, have ${buf.length}`);
    return parseV2(buf);
  }
  const proxy = Buffer.from('PROXY', 'latin1');
  const n = Math.min(buf.length, proxy.length);
  if (n > 0 && buf.subarray(0, n).equals(proxy.subarray(0, n))) return parseV1(buf);
  throw new ProxyHeaderError(buf.length === 0 ? 'incomplete' : 'bad_signature', 'neither a v1 nor a v2 header');
}

function parseV1(buf: Buffer): ParsedProxyHeader {
  // §2.1: the line ends at the first CRLF, within 107 bytes; a lone CR or LF is an error.
  const lf = buf.subarray(0, V1_MAX_LINE_BYTES).indexOf(0x0a);
  if (lf < 0) {
    if (buf.length >= V1_MAX_LINE_BYTES) throw new ProxyHeaderError('bad_line', `no CRLF in the first ${V1_MAX_LINE_BYTES} bytes`);
    throw new ProxyHeaderError('incomplete', 'no CRLF yet');
  }
  if (lf === 0 || buf[lf - 1] !== 0x0d) throw new ProxyHeaderError('bad_line', 'LF without CR');
  const crlf = lf - 1;
  const line = buf.toString('latin1', 0, crlf);
  const headerLength = crlf + 2;
  const fields = line.split(' ');
  if (fields[0] !== 'PROXY') throw new ProxyHeaderError('bad_line', `line must start "PROXY ": ${JSON.stringify(line)}`);
  if (fields[1] === 'UNKNOWN') {
    // §2.1: the receiver ignores anything after UNKNOWN up to the CRLF.
    return { version: 1, command: 'proxy', family: 'unspec', transport: 'unspec', srcIp: null, srcPort: null, dstIp: null, dstPort: null, headerLength, tlvs: [] };
  }
  if (/[^\x20-\x7e]/.test(line)) throw new ProxyHeaderError('bad_line', `non-printable byte or lone CR in ${JSON.stringify(line)}`);
  if (fields.length !== 6) throw new ProxyHeaderError('bad_line', `want 6 single-space-separated fields, got ${fields.length}: ${JSON.stringify(line)}`);
  const [, proto, src, dst, sport, dport] = fields as [string, string, string, string, string, string];
  let family: 'inet' | 'inet6';
  let srcIp: string;
  let dstIp: string;
  if (proto === 'TCP4') {
    family = 'inet';
    srcIp = v1Ipv4(src);
    dstIp = v1Ipv4(dst);
  } else if (proto === 'TCP6') {
    family = 'inet6';
    srcIp = v1Ipv6(src);
    dstIp = v1Ipv6(dst);
  } else {
    throw new ProxyHeaderError('bad_line', `protocol must be TCP4, TCP6 or UNKNOWN (got ${JSON.stringify(proto)})`);
  }
  return { version: 1, command: 'proxy', family, transport: 'stream', srcIp, srcPort: v1Port(sport), dstIp, dstPort: v1Port(dport), headerLength, tlvs: [] };
}

/** §2.1: exactly four decimal integers 0..255, no heading zeroes. */
function v1Ipv4(text: string): string {
  const octet = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])';
  if (!new RegExp(`^${octet}\\.${octet}\\.${octet}\\.${octet}$`).test(text)) {
    throw new ProxyHeaderError('bad_address', `not a canonical IPv4 address: ${JSON.stringify(text)}`);
  }
  return text;
}

/** §2.1: hex groups with at most one `::`, 128 bits in all. */
function v1Ipv6(text: string): string {
  if (text.includes('%') || !net.isIPv6(text)) throw new ProxyHeaderError('bad_address', `not an IPv6 address: ${JSON.stringify(text)}`);
  return canonicalIpv6(text);
}

/** §2.1: decimal 0..65535, no heading zeroes. */
function v1Port(text: string): number {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text) || Number(text) > 65535) {
    throw new ProxyHeaderError('bad_port', `not a port: ${JSON.stringify(text)}`);
  }
  return Number(text);
}

function canonicalIpv6(text: string): string {
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

function parseV2(buf: Buffer): ParsedProxyHeader {
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) throw new ProxyHeaderError('bad_version', `version nibble must be 2 (got ${verCmd >> 4})`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) throw new ProxyHeaderError('bad_command', `command must be 0 (LOCAL) or 1 (PROXY) (got ${cmd})`);
  const fam = buf[13]!;
  const familyBits = fam >> 4;
  const transportBits = fam & 0x0f;
  if (familyBits > 3) throw new ProxyHeaderError('bad_family', `family nibble must be 0..3 (got ${familyBits})`);
  if (transportBits > 2) throw new ProxyHeaderError('bad_transport', `transport nibble must be 0..2 (got ${transportBits})`);
  const length = buf.readUInt16BE(14);
  const headerLength = 16 + length;
  if (buf.length < headerLength) throw new ProxyHeaderError('incomplete', `header says ${headerLength} bytes, have ${buf.length}`);

  const family = (['unspec', 'inet', 'inet6', 'unix'] as const)[familyBits]!;
  const transport = (['unspec', 'stream', 'dgram'] as const)[transportBits]!;
  const none = { srcIp: null, srcPort: null, dstIp: null, dstPort: null };
  // §2.2: LOCAL ignores the block, whatever the family; UNSPEC carries no usable address.
  if (cmd === 0) return { version: 2, command: 'local', family, transport, ...none, headerLength, tlvs: [] };
  if (family === 'unspec' || transport === 'unspec') return { version: 2, command: 'proxy', family, transport, ...none, headerLength, tlvs: [] };

  const addressLength = family === 'inet' ? 12 : family === 'inet6' ? 36 : 216;
  if (length < addressLength) throw new ProxyHeaderError('bad_length', `${family} needs ${addressLength} address bytes, length says ${length}`);
  const tlvs = readTlvs(buf, 16 + addressLength, headerLength);
  if (family === 'unix') return { version: 2, command: 'proxy', family, transport, ...none, headerLength, tlvs };

  const ipLength = family === 'inet' ? 4 : 16;
  const ip = (at: number): string =>
    family === 'inet'
      ? `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`
      : canonicalIpv6(buf.toString('hex', at, at + 16).replace(/(.{4})(?!$)/g, '$1:'));
  return {
    version: 2,
    command: 'proxy',
    family,
    transport,
    srcIp: ip(16),
    dstIp: ip(16 + ipLength),
    srcPort: buf.readUInt16BE(16 + 2 * ipLength),
    dstPort: buf.readUInt16BE(16 + 2 * ipLength + 2),
    headerLength,
    tlvs,
  };
}

/** §2.2: type (1 byte), length (2 bytes, big-endian), value; the chain must end exactly at `end`. */
function readTlvs(buf: Buffer, start: number, end: number): Array<{ type: number; length: number }> {
  const tlvs: Array<{ type: number; length: number }> = [];
  let at = start;
  while (at < end) {
    if (end - at < 3) throw new ProxyHeaderError('bad_tlv', `${end - at} stray bytes after the last TLV`);
    const type = buf[at]!;
    const length = buf.readUInt16BE(at + 1);
    if (at + 3 + length > end) throw new ProxyHeaderError('bad_tlv', `TLV 0x${type.toString(16)} of ${length} bytes overruns the header`);
    tlvs.push({ type, length });
    at += 3 + length;
  }
  return tlvs;
}
