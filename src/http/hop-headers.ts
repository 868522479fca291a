// Header rewriting for the http listener, on Node's rawHeaders arrays ([name, value, ...]) so
// case, order and repeated fields (Set-Cookie) pass through: hop-by-hop fields are removed
// (RFC 9110 §7.6.1) and the forwarding fields X-Forwarded-For/-Proto/-Host and Forwarded
// (RFC 7239) are added. One pass per message, O(fields); nothing here runs per body chunk.

/**
 * Always hop-by-hop. RFC 9110 §7.6.1: Connection, and Proxy-Connection, Keep-Alive, TE,
 * Transfer-Encoding, Upgrade. Trailer was hop-by-hop in RFC 2616 §13.5.1; Node re-frames the
 * body, so a declared trailer would be a lie. Proxy-Authorization / Proxy-Authenticate are
 * credentials between a client and *this* proxy (RFC 9110 §11.7): never relayed to a backend.
 */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'te',
  'transfer-encoding',
  'upgrade',
  'trailer',
  'proxy-authorization',
  'proxy-authenticate',
]);

/** Fields we set ourselves; a client's own values are not trusted and are replaced. */
const REPLACED: ReadonlySet<string> = new Set(['x-forwarded-proto', 'x-forwarded-host']);

/** RFC 9110 §5.6.2 tchar: a value made only of these needs no quoting in Forwarded. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** What the forwarding fields say about the client side of one request. */
export interface ForwardInfo {
  /** Client IP, IPv4-mapped already normalised. */
  readonly clientIp: string;
  readonly clientPort: number;
  /** "http" (this listener has no TLS). */
  readonly proto: string;
}

/**
 * The field names a Connection header lists (RFC 9110 §7.6.1: they are hop-by-hop too),
 * lowercased; null when there are none beyond close/keep-alive (the usual case, no allocation).
 */
export function connectionTokens(raw: readonly string[]): Set<string> | null {
  let out: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length !== 10 || raw[i]!.toLowerCase() !== 'connection') continue;
    for (const part of raw[i + 1]!.split(',')) {
      const token = part.trim().toLowerCase();
      if (token === '' || token === 'close' || token === 'keep-alive') continue;
      (out ??= new Set()).add(token);
    }
  }
  return out;
}

/** `"..."` with `\` and `"` escaped (RFC 9110 §5.6.4 quoted-string), unless a bare token will do. */
function tokenOrQuoted(value: string): string {
  return TOKEN.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/**
 * RFC 7239 §6 node: `ip:port`, IPv6 in brackets. ":" and "[" are not tchar, so the node is
 * always a quoted-string: `for="192.0.2.60:4711"`, `for="[2001:db8::1]:4711"` (§4, §7.4).
 */
export function forwardedNode(ip: string, port: number): string {
  return ip.includes(':') ? `"[${ip}]:${port}"` : `"${ip}:${port}"`;
}

/**
 * The header list sent to a backend for one client request. Drops hop-by-hop fields and the
 * ones Connection lists; appends the client to X-Forwarded-For and Forwarded (keeping earlier
 * hops); sets X-Forwarded-Proto and X-Forwarded-Host. `upgrade`: keep Upgrade and send
 * `Connection: Upgrade` (WebSocket handshake). `chunked`: the body has no Content-Length, so
 * it is re-framed as chunked (Transfer-Encoding is hop-by-hop: we frame our own hop).
 * `fallbackHost` is sent as Host when the client sent none (HTTP/1.0). Never mutates `raw`.
 */
export function requestHeaders(
  raw: readonly string[],
  info: ForwardInfo,
  opts: { upgrade: boolean; chunked: boolean; fallbackHost: string },
): string[] {
  const listed = connectionTokens(raw);
  const out: string[] = [];
  let host: string | undefined;
  let xff: string | undefined;
  let forwarded: string | undefined;
  let upgradeValue: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (listed !== null && listed.has(lower))) {
      if (opts.upgrade && lower === 'upgrade') upgradeValue = value;
      continue;
    }
    if (REPLACED.has(lower)) continue;
    if (lower === 'x-forwarded-for') {
      xff = xff === undefined ? value : `${xff}, ${value}`;
      continue;
    }
    if (lower === 'forwarded') {
      forwarded = forwarded === undefined ? value : `${forwarded}, ${value}`;
      continue;
    }
    if (lower === 'host') host = value;
    out.push(name, value);
  }
  if (host === undefined) out.push('Host', opts.fallbackHost);
  if (opts.upgrade && upgradeValue !== undefined) out.push('Connection', 'Upgrade', 'Upgrade', upgradeValue);
  if (opts.chunked) out.push('Transfer-Encoding', 'chunked');
  const ip = info.clientIp;
  out.push('X-Forwarded-For', xff === undefined ? ip : `${xff}, ${ip}`);
  out.push('X-Forwarded-Proto', info.proto);
  if (host !== undefined) out.push('X-Forwarded-Host', host);
  // RFC 7239 §4: one forwarded-element per proxy, appended to any list a previous hop wrote.
  let element = `for=${forwardedNode(ip, info.clientPort)};proto=${info.proto}`;
  if (host !== undefined) element += `;host=${tokenOrQuoted(host)}`;
  out.push('Forwarded', forwarded === undefined ? element : `${forwarded}, ${element}`);
  return out;
}

/**
 * The header list sent to the client for one backend response: hop-by-hop fields and the
 * ones Connection lists removed; Node adds its own framing and Connection for the client hop.
 */
export function responseHeaders(raw: readonly string[]): string[] {
  const listed = connectionTokens(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (listed !== null && listed.has(lower))) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}
