// `HOST:PORT` strings → Address. IP literals are validated with ip-address and written in
// canonical form (IPv6 lowercased, compressed, in brackets), so `text` is a stable identity.
// Backends may name a hostname (RFC 1123); binds take an IP literal or nothing (`:PORT`).
import { Address4, Address6 } from 'ip-address';
import type { Address } from './types.js';
import { describeValue, type Parsed } from './parsed.js';

/**
 * `backend`: HOST is an IP literal or a hostname, port 1–65535.
 * `bind`: HOST is an IP literal or empty (all interfaces), port 0–65535 (0: the OS picks one).
 */
export type AddressKind = 'backend' | 'bind';

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;
const PORT = /^(?:0|[1-9][0-9]{0,4})$/;

/** RFC 1123 hostname: dot-separated labels of letters, digits and inner hyphens, ≤ 253 chars. */
export function isHostname(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  // An all-numeric dotted name is a malformed IPv4 literal, not a hostname (e.g. "10.0.0.256").
  if (/^[0-9.]+$/.test(host)) return false;
  return host.split('.').every((label) => LABEL.test(label));
}

/** Canonical text of an IPv6 literal (no brackets), or null when it is not one. Zones are refused. */
export function canonicalIPv6(host: string): string | null {
  if (host.includes('%') || host.includes('/') || !Address6.isValid(host)) return null;
  return new Address6(host).correctForm();
}

/** Canonical text of an IPv4 literal (dotted quad, no leading zeros), or null. */
export function canonicalIPv4(host: string): string | null {
  if (host.includes('/') || !Address4.isValid(host)) return null;
  return new Address4(host).correctForm();
}

/** Parse `HOST:PORT`, `[IPv6]:PORT` or (binds only) `:PORT`. Accepts any input type. */
export function parseAddress(input: unknown, kind: AddressKind): Parsed<Address> {
  const example = kind === 'bind' ? '"127.0.0.1:6432", "[::1]:6432" or ":6432"' : '"10.0.0.11:5432", "[::1]:5432" or "db1.example.com:5432"';
  const form = kind === 'bind' ? 'IP:PORT or :PORT' : 'HOST:PORT';
  if (typeof input !== 'string') {
    return { ok: false, message: `must be a string ${form}, e.g. ${example} (got ${describeValue(input)})` };
  }
  const text = input;
  const got = `(got ${JSON.stringify(text)})`;
  let hostPart: string;
  let portPart: string;
  let bracketed = false;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return { ok: false, message: `has "[" without a closing "]" ${got}` };
    hostPart = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (!rest.startsWith(':') || rest.length === 1) {
      return { ok: false, message: `the port is missing: must be ${form}, e.g. ${example} ${got}` };
    }
    portPart = rest.slice(1);
    bracketed = true;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return { ok: false, message: `the port is missing: must be ${form}, e.g. ${example} ${got}` };
    hostPart = text.slice(0, colon);
    portPart = text.slice(colon + 1);
    if (hostPart.includes(':')) {
      // Two colons: an IPv6 literal (with or without a port) written without brackets.
      return { ok: false, message: `IPv6 addresses must be in brackets, e.g. "[::1]:5432" ${got}` };
    }
  }
  if (!PORT.test(portPart)) return { ok: false, message: `port must be a number from ${kind === 'bind' ? 0 : 1} to 65535 ${got}` };
  const port = Number(portPart);
  const minPort = kind === 'bind' ? 0 : 1;
  if (port < minPort || port > 65535) return { ok: false, message: `port must be a number from ${minPort} to 65535 ${got}` };

  if (bracketed) {
    const v6 = canonicalIPv6(hostPart);
    if (v6 === null) {
      if (hostPart.includes('%')) return { ok: false, message: `IPv6 zone ids ("%...") are not supported ${got}` };
      return { ok: false, message: `"${hostPart}" is not a valid IPv6 address ${got}` };
    }
    return { ok: true, value: { host: v6, port, family: 6, text: `[${v6}]:${port}` } };
  }
  if (hostPart === '') {
    if (kind === 'bind') return { ok: true, value: { host: '', port, family: 0, text: `:${port}` } };
    return { ok: false, message: `the host is missing: must be HOST:PORT, e.g. ${example} ${got}` };
  }
  const v4 = canonicalIPv4(hostPart);
  if (v4 !== null) return { ok: true, value: { host: v4, port, family: 4, text: `${v4}:${port}` } };
  if (/^[0-9.]+$/.test(hostPart)) return { ok: false, message: `"${hostPart}" is not a valid IPv4 address ${got}` };
  if (kind === 'bind') {
    return { ok: false, message: `the bind host must be an IP address (e.g. 127.0.0.1, [::1], 0.0.0.0) or empty for all interfaces, not a hostname ${got}` };
  }
  if (!isHostname(hostPart)) return { ok: false, message: `"${hostPart}" is not a valid IP address or hostname ${got}` };
  const host = hostPart.toLowerCase();
  return { ok: true, value: { host, port, family: 0, text: `${host}:${port}` } };
}
