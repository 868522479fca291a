// The PROXY header as tests want it: a thin adapter over src/listeners/proxy-header-reader.ts
// (the decoder written from the spec, sharing no code with the encoder in proxy-protocol.ts)
// that flattens the addresses and throws instead of returning "need more" or "invalid", so a
// test reads `parseProxyHeader(bytes).srcIp` and a bad header fails with its code.
import { PROXY_V1_MAX_BYTES, readProxyHeader, type ProxyHeaderInvalidCode } from '../../src/listeners/proxy-header-reader.js';

/** Why a header was refused. `incomplete` alone means "more bytes may make it valid". */
export type ProxyHeaderErrorCode = 'incomplete' | ProxyHeaderInvalidCode;

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

/** §2.1: the longest line a receiver must take, CRLF included. */
export const V1_MAX_LINE_BYTES = PROXY_V1_MAX_BYTES;

/**
 * Parse the PROXY header at the start of `buf` (payload may follow). Throws ProxyHeaderError;
 * code 'incomplete' when `buf` is a valid prefix that is too short to decide.
 */
export function parseProxyHeader(buf: Buffer): ParsedProxyHeader {
  const r = readProxyHeader(buf);
  if (r.kind === 'need-more') throw new ProxyHeaderError('incomplete', `a valid start of a header, ${buf.length} bytes so far`);
  if (r.kind === 'invalid') throw new ProxyHeaderError(r.code, r.reason);
  const h = r.header;
  return {
    version: h.version,
    command: h.command,
    family: h.family,
    transport: h.transport,
    srcIp: h.source?.ip ?? null,
    srcPort: h.source?.port ?? null,
    dstIp: h.destination?.ip ?? null,
    dstPort: h.destination?.port ?? null,
    headerLength: h.length,
    tlvs: h.tlvs.map((x) => ({ type: x.type, length: x.value.length })),
  };
}
