// PROXY protocol header encoder, pure: addresses in, one Buffer out, no sockets.
// Spec: HAProxy "The PROXY protocol Versions 1 & 2" (doc/proxy-protocol.txt, rev. 2020/03/05):
// §2.1 human-readable v1 line, §2.2 binary v2 header. Every header is complete and exact-sized,
// so the caller can write it in one call, as §2 asks ("the header is sent at once").
//
// Address families. IPv4-mapped IPv6 (::ffff:a.b.c.d, in any textual form) counts as IPv4. When
// both ends are IPv4 the header says TCP4 / AF_INET. When one end is IPv4 and the other IPv6, the
// IPv4 end is written IPv4-mapped and the header says TCP6 / AF_INET6: §2.1 requires both
// addresses to share the announced family, and mapping loses nothing, where UNKNOWN would hide
// both addresses from the backend. A `%zone` suffix (Node may add one to link-local addresses)
// is dropped: neither format can carry it. An address or port that cannot be encoded gives
// "PROXY UNKNOWN" (v1) or PROXY + AF_UNSPEC with no addresses (v2); §2.1/§2.2 let the backend
// use the real endpoints or refuse: nginx 1.22 accepts both, HAProxy 2.6 refuses the v2 one
// (test/e2e/proxy-protocol-consumers.test.ts).
//
// UDP: §2.2 defines the DGRAM values (0x12, 0x22) but says nothing on datagram framing (the
// rest of the spec speaks of connections). Whether a header goes on every datagram or only the
// first of a session is the caller's choice; this module only builds one header.

import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from './ip-bytes.js';

/** One end of the proxied session. `ip` is IPv4 or IPv6 text as Node reports it; `port` is an integer in 0..65535. */
export interface ProxyEndpoint {
  /** IPv4 dotted quad (no leading zeros), or IPv6 text in any RFC 4291 §2.2 form, with an optional `%zone`. */
  readonly ip: string;
  /** 0..65535; anything else makes the header UNKNOWN / UNSPEC. */
  readonly port: number;
}

/** The v2 transport nibble: `stream` for TCP (0x1), `dgram` for UDP (0x2). */
export type ProxyTransport = 'stream' | 'dgram';

/** §2.2: the 12-byte v2 signature. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** §2.2: signature (12) + ver_cmd (1) + fam (1) + len (2). */
const V2_FIXED_LENGTH = 16;
/** §2.2: high nibble version 2, low nibble command (0x0 LOCAL, 0x1 PROXY). */
const V2_LOCAL = 0x20;
const V2_PROXY = 0x21;
/** §2.2: high nibble family (0x0 UNSPEC, 0x1 INET, 0x2 INET6), low nibble transport (0x1 STREAM, 0x2 DGRAM). */
const FAMILY_UNSPEC = 0x00;
const FAMILY_INET = 0x10;
const FAMILY_INET6 = 0x20;
const TRANSPORT_STREAM = 0x01;
const TRANSPORT_DGRAM = 0x02;
/** §2.2: 2 × 4-byte address + 2 × 2-byte port = 12; 2 × 16 + 2 × 2 = 36. */
const V2_INET_ADDRESS_LENGTH = 12;
const V2_INET6_ADDRESS_LENGTH = 36;

const V1_UNKNOWN = 'PROXY UNKNOWN\r\n';

const KIND_INVALID = 0;
const KIND_V4 = 4;
const KIND_V6 = 6;
type Kind = typeof KIND_INVALID | typeof KIND_V4 | typeof KIND_V6;

// Scratch for the two parsed addresses, always held as 16 bytes (IPv4 as ::ffff:a.b.c.d), so
// mixing families is only a choice of which bytes to copy. Safe to share: every encode call
// fills and reads them synchronously, and nothing keeps a reference past the call.
const srcBytes = new Uint8Array(16);
const dstBytes = new Uint8Array(16);

/**
 * The PROXY v1 line (§2.1) for a TCP session from `src` (the client) to `dst` (the address the
 * client connected to): `PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n`, at most 104 bytes.
 * IPv6 is written in RFC 5952 form, hex only (mapped IPv4 as `::ffff:102:304`, since §2.1 describes
 * IPv6 as hex groups). Accepts any `ProxyEndpoint`; never throws: invalid input gives `PROXY UNKNOWN\r\n`.
 */
export function encodeProxyV1(src: ProxyEndpoint, dst: ProxyEndpoint): Buffer {
  const srcKind = readEndpoint(src, srcBytes);
  const dstKind = srcKind === KIND_INVALID ? KIND_INVALID : readEndpoint(dst, dstBytes);
  if (dstKind === KIND_INVALID) return Buffer.from(V1_UNKNOWN, 'latin1');
  const line =
    srcKind === KIND_V4 && dstKind === KIND_V4
      ? `PROXY TCP4 ${formatIpv4(srcBytes, 12)} ${formatIpv4(dstBytes, 12)} ${src.port} ${dst.port}\r\n`
      : `PROXY TCP6 ${formatIpv6(srcBytes, 0)} ${formatIpv6(dstBytes, 0)} ${src.port} ${dst.port}\r\n`;
  return Buffer.from(line, 'latin1');
}

/**
 * The PROXY v2 header (§2.2) with command PROXY: 16 fixed bytes, then source address, destination
 * address, source port, destination port, all in network byte order; 28 bytes for IPv4, 52 for
 * IPv6. `transport` picks STREAM (TCP) or DGRAM (UDP). Never throws: invalid input gives a 16-byte
 * header with family AF_UNSPEC and length 0. The Buffer is new and owned by the caller.
 */
export function encodeProxyV2(src: ProxyEndpoint, dst: ProxyEndpoint, transport: ProxyTransport): Buffer {
  const srcKind = readEndpoint(src, srcBytes);
  const dstKind = srcKind === KIND_INVALID ? KIND_INVALID : readEndpoint(dst, dstBytes);
  if (dstKind === KIND_INVALID) return v2Header(V2_PROXY, FAMILY_UNSPEC, 0);

  const transportBits = transport === 'dgram' ? TRANSPORT_DGRAM : TRANSPORT_STREAM;
  if (srcKind === KIND_V4 && dstKind === KIND_V4) {
    const out = v2Header(V2_PROXY, FAMILY_INET | transportBits, V2_INET_ADDRESS_LENGTH);
    out.set(srcBytes.subarray(12, 16), 16);
    out.set(dstBytes.subarray(12, 16), 20);
    out.writeUInt16BE(src.port, 24);
    out.writeUInt16BE(dst.port, 26);
    return out;
  }
  const out = v2Header(V2_PROXY, FAMILY_INET6 | transportBits, V2_INET6_ADDRESS_LENGTH);
  out.set(srcBytes, 16);
  out.set(dstBytes, 32);
  out.writeUInt16BE(src.port, 48);
  out.writeUInt16BE(dst.port, 50);
  return out;
}

/**
 * The 16-byte PROXY v2 header with command LOCAL (§2.2): for connections lb makes on its own
 * behalf, such as health probes. The receiver uses the real endpoints. A new Buffer per call.
 */
export function encodeProxyV2Local(): Buffer {
  return v2Header(V2_LOCAL, FAMILY_UNSPEC, 0);
}

/** Exactly `V2_FIXED_LENGTH + addressLength` bytes; the fixed part written, the rest for the caller to fill. */
function v2Header(verCmd: number, family: number, addressLength: number): Buffer {
  // allocUnsafe: every byte is written, here or by the caller, before the Buffer is returned.
  const out = Buffer.allocUnsafe(V2_FIXED_LENGTH + addressLength);
  V2_SIGNATURE.copy(out, 0);
  out[12] = verCmd;
  out[13] = family;
  out.writeUInt16BE(addressLength, 14);
  return out;
}

/** Parse `endpoint` into `into` (16 bytes, IPv4 as mapped) and classify it; KIND_INVALID if either field is bad. */
function readEndpoint(endpoint: ProxyEndpoint, into: Uint8Array): Kind {
  const port = endpoint.port;
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) return KIND_INVALID;
  const ip = endpoint.ip;
  if (typeof ip !== 'string') return KIND_INVALID;
  if (ip.indexOf(':') < 0) {
    if (!parseIpv4(ip, 0, ip.length, into, 12)) return KIND_INVALID;
    into.fill(0, 0, 10);
    into[10] = 0xff;
    into[11] = 0xff;
    return KIND_V4;
  }
  const zone = ip.indexOf('%');
  if (zone === 0 || zone === ip.length - 1) return KIND_INVALID;
  if (!parseIpv6(ip, 0, zone < 0 ? ip.length : zone, into, 0)) return KIND_INVALID;
  return isMappedIpv4(into) ? KIND_V4 : KIND_V6;
}

/** ::ffff:0:0/96 (RFC 4291 §2.5.5.2). */
function isMappedIpv4(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}
