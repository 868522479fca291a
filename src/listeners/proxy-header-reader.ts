// PROXY protocol header reader for untrusted bytes: a Buffer in, one of "need more", a header,
// or "invalid" with a reason out. Never throws, never reads past the input, never allocates in
// proportion to it. Spec: HAProxy "The PROXY protocol Versions 1 & 2" (doc/proxy-protocol.txt):
// §2.1 v1 text line, §2.2 v2 binary header and TLVs. It shares only the address text
// (ip-bytes.ts) with the encoder (proxy-protocol.ts); that is checked against net.isIPv6 and
// WHATWG URL parsing, and the encoder against HAProxy and nginx as consumers.
//
// Limits. v1: the line is at most 107 bytes with its CRLF (§2.1 "worst case"); no CRLF within
// them, a lone CR or LF, or any field off the exact syntax (single spaces, TCP4 / TCP6 /
// UNKNOWN, canonical dotted quads, ports without heading zeroes) is invalid. v2: the 12-byte
// signature, version 2, command LOCAL or PROXY, family 0..3, transport 0..2; the header is
// 16 + the length field bytes (so at most PROXY_V2_MAX_BYTES), and that length must hold the
// family's addresses (12, 36, 216) when they are used; the rest must be whole TLVs.
//
// What is reported. v1 UNKNOWN, v2 LOCAL, and v2 UNSPEC (family or transport) carry no usable
// address: `source` and `destination` are null, and §2.1/§2.2 say the receiver then uses the
// real connection's endpoints (LOCAL: must; UNSPEC/UNKNOWN: may, or reject). AF_UNIX is
// accepted with family 'unix' and null addresses (its 108-byte paths are not decoded). IPv6 is
// RFC 5952 text, hex only (an IPv4-mapped address reads `::ffff:a00:1`), in both versions;
// callers normalise mapped addresses as they do Node's. The PP2_TYPE_CRC32C TLV is reported
// like any other TLV, not verified.
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from './ip-bytes.js';

/** §2.1: the longest v1 line a receiver must take, CRLF included. */
export const PROXY_V1_MAX_BYTES = 107;
/** §2.2: 16 fixed bytes + a 16-bit length: the most bytes a v2 header can ask to be buffered. */
export const PROXY_V2_MAX_BYTES = 16 + 0xffff;

/** Why a header is invalid: stable names for tests and logs; `reason` says the detail. */
export type ProxyHeaderInvalidCode =
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

/** One end of the proxied connection as the header states it. */
export interface ProxyHeaderAddress {
  /** Dotted quad, or RFC 5952 IPv6 text (lowercase, hex only, longest zero run as `::`). */
  readonly ip: string;
  /** 0..65535. */
  readonly port: number;
}

/** A v2 Type-Length-Value after the addresses (§2.2). */
export interface ProxyTlv {
  /** 0x00..0xff; PP2_TYPE_* in §2.2 (0x01 ALPN, 0x02 AUTHORITY, 0x04 NOOP, ...). */
  readonly type: number;
  /** The value bytes: a view into the input, not a copy (copy it to keep it past the input). */
  readonly value: Uint8Array;
}

export interface ProxyHeader {
  /** 1 for the text line, 2 for the binary header. */
  readonly version: 1 | 2;
  /** v1 is always 'proxy'; v2 LOCAL is 'local' (addresses ignored, as §2.2 requires). */
  readonly command: 'local' | 'proxy';
  /** v1 TCP4 / TCP6 / UNKNOWN are inet / inet6 / unspec; v2 as its family nibble says. */
  readonly family: 'inet' | 'inet6' | 'unix' | 'unspec';
  /** v1 TCP4/TCP6 are 'stream', UNKNOWN 'unspec'; v2 as its transport nibble says. */
  readonly transport: 'stream' | 'dgram' | 'unspec';
  /** The client; null when the header carries no IP address (see the module comment). */
  readonly source: ProxyHeaderAddress | null;
  /** The address the client connected to; null exactly when `source` is. */
  readonly destination: ProxyHeaderAddress | null;
  /** Bytes the header takes from the start of the input: the payload starts here. ≤ input length. */
  readonly length: number;
  /** v2 with addresses: the TLVs in order (framing checked, values not interpreted); else empty. */
  readonly tlvs: readonly ProxyTlv[];
}

/** The outcome of one read. `need-more`: the input is a valid start; read again with more bytes. */
export type ProxyHeaderRead =
  | { readonly kind: 'need-more' }
  | { readonly kind: 'header'; readonly header: ProxyHeader }
  | { readonly kind: 'invalid'; readonly code: ProxyHeaderInvalidCode; readonly reason: string };

const NEED_MORE: ProxyHeaderRead = Object.freeze({ kind: 'need-more' });
const NO_TLVS: readonly ProxyTlv[] = Object.freeze([]);

/** §2.2: the v2 signature; the 5th byte is NUL, so never treat it as a C string. */
const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a] as const;
const V2_FIXED_BYTES = 16;
/** §2.2: address block sizes by family nibble: 2 × 4 + 2 × 2, 2 × 16 + 2 × 2, 2 × 108. */
const V2_INET_BYTES = 12;
const V2_INET6_BYTES = 36;
const V2_UNIX_BYTES = 216;
const FAMILIES = ['unspec', 'inet', 'inet6', 'unix'] as const;
const TRANSPORTS = ['unspec', 'stream', 'dgram'] as const;

/** §2.1: "PROXY" then exactly one space. */
const V1_PREFIX = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20] as const;
const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

// Scratch for one parsed v1 address. Safe to share: each read fills and formats it synchronously.
const scratch = new Uint8Array(16);

/**
 * Read the PROXY header (v1 or v2) at the start of `input`; bytes after it are the payload and
 * are not looked at. `need-more` only while `input` is a valid start of a header (at most
 * PROXY_V1_MAX_BYTES or PROXY_V2_MAX_BYTES are ever needed); anything that cannot become a
 * valid header is `invalid` as soon as that shows. Never throws; `input` is not changed.
 */
export function readProxyHeader(input: Uint8Array): ProxyHeaderRead {
  if (input.length === 0) return NEED_MORE;
  if (input[0] === V2_SIGNATURE[0]) return readV2(input);
  if (input[0] === V1_PREFIX[0]) return readV1(input);
  return invalid('bad_signature', `neither a v1 nor a v2 header (first byte 0x${hex2(input[0]!)})`);
}

function readV2(b: Uint8Array): ProxyHeaderRead {
  const n = b.length;
  for (let i = 0; i < V2_SIGNATURE.length && i < n; i++) {
    if (b[i] !== V2_SIGNATURE[i]) return invalid('bad_signature', `not the v2 signature (byte ${i} is 0x${hex2(b[i]!)})`);
  }
  if (n < 13) return NEED_MORE;
  const verCmd = b[12]!;
  if (verCmd >> 4 !== 2) return invalid('bad_version', `version must be 2 (got ${verCmd >> 4})`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return invalid('bad_command', `command must be 0 (LOCAL) or 1 (PROXY) (got ${cmd})`);
  if (n < 14) return NEED_MORE;
  const fam = b[13]!;
  if (fam >> 4 > 3) return invalid('bad_family', `address family must be 0..3 (got ${fam >> 4})`);
  if ((fam & 0x0f) > 2) return invalid('bad_transport', `transport must be 0..2 (got ${fam & 0x0f})`);
  if (n < V2_FIXED_BYTES) return NEED_MORE;
  const family = FAMILIES[fam >> 4]!;
  const transport = TRANSPORTS[fam & 0x0f]!;
  const blockBytes = (b[14]! << 8) | b[15]!;
  const length = V2_FIXED_BYTES + blockBytes;
  // Which addresses are used: none for LOCAL (§2.2 "discard the protocol block including the
  // family") or for UNSPEC in either nibble (§2.2 "should ignore address information").
  const uses = cmd === 1 && family !== 'unspec' && transport !== 'unspec';
  const addressBytes = !uses ? 0 : family === 'inet' ? V2_INET_BYTES : family === 'inet6' ? V2_INET6_BYTES : V2_UNIX_BYTES;
  // Checked before waiting for the block: a length too short for its family never becomes valid.
  if (blockBytes < addressBytes) return invalid('bad_length', `${family} needs ${addressBytes} address bytes (length says ${blockBytes})`);
  if (n < length) return NEED_MORE;
  if (!uses) return header(2, cmd === 0 ? 'local' : 'proxy', family, transport, null, null, length, NO_TLVS);

  const tlvs = readTlvs(b, V2_FIXED_BYTES + addressBytes, length);
  if (typeof tlvs === 'string') return invalid('bad_tlv', tlvs);
  if (family === 'unix') return header(2, 'proxy', family, transport, null, null, length, tlvs);
  const at = V2_FIXED_BYTES;
  let src: string;
  let dst: string;
  let ports: number;
  if (family === 'inet') {
    src = formatIpv4(b, at);
    dst = formatIpv4(b, at + 4);
    ports = at + 8;
  } else {
    src = formatIpv6(b, at);
    dst = formatIpv6(b, at + 16);
    ports = at + 32;
  }
  const source = { ip: src, port: (b[ports]! << 8) | b[ports + 1]! };
  const destination = { ip: dst, port: (b[ports + 2]! << 8) | b[ports + 3]! };
  return header(2, 'proxy', family, transport, source, destination, length, tlvs);
}

/** §2.2: type (1 byte), length (2 bytes, big-endian), value, repeated to exactly `end`. A string is the problem. */
function readTlvs(b: Uint8Array, start: number, end: number): ProxyTlv[] | string {
  const tlvs: ProxyTlv[] = [];
  let at = start;
  while (at < end) {
    if (end - at < 3) return `${end - at} stray byte${end - at === 1 ? '' : 's'} after the last TLV`;
    const type = b[at]!;
    const valueBytes = (b[at + 1]! << 8) | b[at + 2]!;
    if (at + 3 + valueBytes > end) return `TLV 0x${hex2(type)} of ${valueBytes} bytes overruns the header by ${at + 3 + valueBytes - end}`;
    tlvs.push({ type, value: b.subarray(at + 3, at + 3 + valueBytes) });
    at += 3 + valueBytes;
  }
  return tlvs;
}

function readV1(b: Uint8Array): ProxyHeaderRead {
  const n = b.length;
  for (let i = 0; i < V1_PREFIX.length && i < n; i++) {
    if (b[i] === V1_PREFIX[i]) continue;
    return i < 5 ? invalid('bad_signature', 'neither a v1 nor a v2 header') : invalid('bad_line', '"PROXY" must be followed by one space');
  }
  // §2.1: wait for the CRLF, within the first 107 bytes; a lone CR or LF does not end the line.
  const limit = Math.min(n, PROXY_V1_MAX_BYTES);
  let cr = -1;
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const c = b[i]!;
    if (c === LF) return invalid('bad_line', 'LF without CR');
    if (c === CR) {
      cr = i;
      break;
    }
  }
  if (cr < 0) return n >= PROXY_V1_MAX_BYTES ? invalid('bad_line', `no CRLF in the first ${PROXY_V1_MAX_BYTES} bytes`) : NEED_MORE;
  if (cr + 2 > PROXY_V1_MAX_BYTES) return invalid('bad_line', `no CRLF in the first ${PROXY_V1_MAX_BYTES} bytes`);
  if (cr + 1 === n) return NEED_MORE;
  if (b[cr + 1] !== LF) return invalid('bad_line', 'CR without LF');
  const length = cr + 2;

  // Fields after "PROXY ": the protocol, then (TCP4/TCP6) exactly four, one space apart.
  const protoStart = V1_PREFIX.length;
  let protoEnd = protoStart;
  while (protoEnd < cr && b[protoEnd] !== SPACE) protoEnd++;
  const proto = latin1(b, protoStart, protoEnd);
  if (proto === 'UNKNOWN') {
    // §2.1: for UNKNOWN the receiver ignores whatever comes before the CRLF.
    return header(1, 'proxy', 'unspec', 'unspec', null, null, length, NO_TLVS);
  }
  if (proto !== 'TCP4' && proto !== 'TCP6') return invalid('bad_line', `protocol must be TCP4, TCP6 or UNKNOWN (got ${quote(b, protoStart, protoEnd)})`);
  const starts = [0, 0, 0, 0];
  const ends = [0, 0, 0, 0];
  let at = protoEnd;
  for (let f = 0; f < 4; f++) {
    if (at >= cr || b[at] !== SPACE) return invalid('bad_line', `${proto} needs 4 fields after it, one space apart (found ${f})`);
    at++;
    starts[f] = at;
    while (at < cr && b[at] !== SPACE) at++;
    ends[f] = at;
    if (ends[f] === starts[f]) return invalid('bad_line', 'fields must be one space apart');
  }
  if (at !== cr) return invalid('bad_line', `${proto} takes exactly 4 fields after it`);

  const v4 = proto === 'TCP4';
  const src = addressText(b, starts[0]!, ends[0]!, v4);
  if (src === null) return invalid('bad_address', `source is not ${v4 ? 'a canonical IPv4' : 'an IPv6'} address: ${quote(b, starts[0]!, ends[0]!)}`);
  const dst = addressText(b, starts[1]!, ends[1]!, v4);
  if (dst === null) return invalid('bad_address', `destination is not ${v4 ? 'a canonical IPv4' : 'an IPv6'} address: ${quote(b, starts[1]!, ends[1]!)}`);
  const sport = port(b, starts[2]!, ends[2]!);
  if (sport < 0) return invalid('bad_port', `source port must be 0..65535 without heading zeroes (got ${quote(b, starts[2]!, ends[2]!)})`);
  const dport = port(b, starts[3]!, ends[3]!);
  if (dport < 0) return invalid('bad_port', `destination port must be 0..65535 without heading zeroes (got ${quote(b, starts[3]!, ends[3]!)})`);
  return header(1, 'proxy', v4 ? 'inet' : 'inet6', 'stream', { ip: src, port: sport }, { ip: dst, port: dport }, length, NO_TLVS);
}

/** §2.1: a canonical dotted quad (TCP4) or IPv6 text (TCP6) → the address as reported, or null. */
function addressText(b: Uint8Array, start: number, end: number, v4: boolean): string | null {
  const text = latin1(b, start, end);
  if (v4) return parseIpv4(text, 0, text.length, scratch, 0) ? text : null;
  return parseIpv6(text, 0, text.length, scratch, 0) ? formatIpv6(scratch, 0) : null;
}

/** §2.1: decimal 0..65535, no heading zeroes; -1 when not. */
function port(b: Uint8Array, start: number, end: number): number {
  const digits = end - start;
  if (digits < 1 || digits > 5 || (digits > 1 && b[start] === DIGIT_0)) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c < DIGIT_0 || c > DIGIT_9) return -1;
    value = value * 10 + (c - DIGIT_0);
  }
  return value > 0xffff ? -1 : value;
}

function header(
  version: 1 | 2,
  command: ProxyHeader['command'],
  family: ProxyHeader['family'],
  transport: ProxyHeader['transport'],
  source: ProxyHeaderAddress | null,
  destination: ProxyHeaderAddress | null,
  length: number,
  tlvs: readonly ProxyTlv[],
): ProxyHeaderRead {
  return { kind: 'header', header: { version, command, family, transport, source, destination, length, tlvs } };
}

function invalid(code: ProxyHeaderInvalidCode, reason: string): ProxyHeaderRead {
  return { kind: 'invalid', code, reason };
}

function latin1(b: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(b[i]!);
  return s;
}

/** Untrusted bytes for a reason string: at most 48, JSON-quoted so control bytes show as escapes. */
function quote(b: Uint8Array, start: number, end: number): string {
  const cut = Math.min(end, start + 48);
  return JSON.stringify(latin1(b, start, cut)) + (cut < end ? '…' : '');
}

function hex2(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}
