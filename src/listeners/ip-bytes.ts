// IP address text <-> 16 network-order bytes, exact and allocation-free, for the PROXY protocol
// encoder (addresses as Node reports them) and reader (addresses from untrusted header bytes).
// Parsing accepts only the canonical dotted quad (no heading zeroes, as PROXY v1 §2.1
// requires) and the RFC 4291 §2.2 IPv6 forms; formatting writes RFC 5952 text, hex only.

const CHAR_0 = 0x30;
const CHAR_9 = 0x39;
const CHAR_DOT = 0x2e;
const CHAR_COLON = 0x3a;

/**
 * Dotted-quad text[start, end) → 4 bytes at out[at]. Exactly four decimal octets 0..255 without
 * heading zeroes, so accepted text is already canonical. O(length).
 */
export function parseIpv4(text: string, start: number, end: number, out: Uint8Array, at: number): boolean {
  let i = start;
  for (let octet = 0; octet < 4; octet++) {
    if (octet > 0) {
      if (i >= end || text.charCodeAt(i) !== CHAR_DOT) return false;
      i++;
    }
    const first = i;
    let value = 0;
    while (i < end) {
      const c = text.charCodeAt(i);
      if (c < CHAR_0 || c > CHAR_9) break;
      value = value * 10 + (c - CHAR_0);
      i++;
      if (value > 255) return false;
    }
    const digits = i - first;
    if (digits === 0 || (digits > 1 && text.charCodeAt(first) === CHAR_0)) return false;
    out[at + octet] = value;
  }
  return i === end;
}

/**
 * IPv6 text[start, end) → 16 bytes at out[at], network byte order. Accepts the RFC 4291 §2.2 forms:
 * eight groups of 1–4 hex digits, one `::` standing for one or more zero groups, and a trailing
 * dotted quad for the low 32 bits. No zone (strip it first). O(length); writes into `out` only,
 * and on failure leaves out[at, at+16) unspecified.
 */
export function parseIpv6(text: string, start: number, end: number, out: Uint8Array, at: number): boolean {
  let i = start;
  let groups = 0; // 16-bit groups written so far, left to right
  let gapAt = -1; // group index where `::` stands, -1 when there is none
  if (end - start < 2) return false;
  if (text.charCodeAt(i) === CHAR_COLON) {
    if (text.charCodeAt(i + 1) !== CHAR_COLON) return false;
    gapAt = 0;
    i += 2;
    if (i === end) {
      out.fill(0, at, at + 16);
      return true;
    }
  }
  for (;;) {
    const first = i;
    let value = 0;
    while (i < end && i - first <= 4) {
      const h = hexValue(text.charCodeAt(i));
      if (h < 0) break;
      value = (value << 4) | h;
      i++;
    }
    if (i < end && text.charCodeAt(i) === CHAR_DOT) {
      // Embedded IPv4 takes the last two groups and must end the text.
      if (groups > 6 || !parseIpv4(text, first, end, out, at + groups * 2)) return false;
      groups += 2;
      break;
    }
    const digits = i - first;
    if (digits === 0 || digits > 4 || groups === 8) return false;
    out[at + groups * 2] = value >> 8;
    out[at + groups * 2 + 1] = value & 0xff;
    groups++;
    if (i === end) break;
    if (text.charCodeAt(i) !== CHAR_COLON) return false;
    i++;
    if (i === end) return false; // a lone trailing ':'
    if (text.charCodeAt(i) === CHAR_COLON) {
      if (gapAt >= 0) return false; // at most one `::`
      gapAt = groups;
      i++;
      if (i === end) break;
    }
  }
  if (gapAt < 0) return groups === 8;
  if (groups > 7) return false; // `::` must stand for at least one group
  // Slide the groups written after `::` to the end and zero the gap (copyWithin handles overlap).
  const tailStart = at + gapAt * 2;
  const tailEnd = at + groups * 2;
  const newTailStart = at + 16 - (tailEnd - tailStart);
  out.copyWithin(newTailStart, tailStart, tailEnd);
  out.fill(0, tailStart, newTailStart);
  return true;
}

function hexValue(c: number): number {
  if (c >= CHAR_0 && c <= CHAR_9) return c - CHAR_0;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/** b[at, at+4) as a dotted quad. */
export function formatIpv4(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/**
 * b[at, at+16) → RFC 5952 §4 text: lowercase, no heading zeroes, the first longest run of two
 * or more zero groups as `::`. Hex only, no dotted quad (mapped IPv4 reads `::ffff:a00:1`).
 */
export function formatIpv6(b: Uint8Array, at: number): string {
  let bestStart = -1;
  let bestLength = 1; // a run must beat 1 to be compressed (RFC 5952 §4.2.2)
  for (let g = 0; g < 8; ) {
    if (group(b, at, g) !== 0) {
      g++;
      continue;
    }
    const runStart = g;
    while (g < 8 && group(b, at, g) === 0) g++;
    if (g - runStart > bestLength) {
      bestStart = runStart;
      bestLength = g - runStart;
    }
  }
  let text = '';
  for (let g = 0; g < 8; g++) {
    if (g === bestStart) {
      text += '::';
      g += bestLength - 1;
      continue;
    }
    if (text.length > 0 && !text.endsWith(':')) text += ':';
    text += group(b, at, g).toString(16);
  }
  return text;
}

function group(b: Uint8Array, at: number, g: number): number {
  return (b[at + g * 2]! << 8) | b[at + g * 2 + 1]!;
}
