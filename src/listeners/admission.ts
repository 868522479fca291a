// Admission: may this client open a session here? ACL (deny first, then allow) and the
// listener and global connection limits. CIDRs are parsed once at load into net.BlockList,
// which matches IPv4-mapped IPv6 clients (::ffff:a.b.c.d) against IPv4 rules by itself.
import { BlockList } from 'node:net';
import type { Cidr } from '../config/types.js';

/** Build a BlockList from pre-parsed CIDRs; null for an empty list (so the check is free). */
export function blockListOf(cidrs: readonly Cidr[]): BlockList | null {
  if (cidrs.length === 0) return null;
  const list = new BlockList();
  for (const c of cidrs) list.addSubnet(c.network, c.prefix, c.family === 4 ? 'ipv4' : 'ipv6');
  return list;
}

export class Acl {
  private readonly allow: BlockList | null;
  private readonly deny: BlockList | null;

  constructor(allow: readonly Cidr[], deny: readonly Cidr[]) {
    this.allow = blockListOf(allow);
    this.deny = blockListOf(deny);
  }

  /** True when `ip` (as reported by the socket, family 'IPv4'|'IPv6') may connect. */
  permits(ip: string, family: string): boolean {
    const fam = family === 'IPv6' || family === '6' ? 'ipv6' : 'ipv4';
    if (this.deny !== null && this.deny.check(ip, fam)) return false;
    if (this.allow !== null && !this.allow.check(ip, fam)) return false;
    return true;
  }
}

/** Turn `::ffff:1.2.3.4` into `1.2.3.4`; leave other addresses alone. Cheap: a prefix test. */
export function normaliseIp(ip: string): string {
  return ip.length > 7 && ip.charCodeAt(0) === 58 /* : */ && ip.startsWith('::ffff:') && ip.indexOf('.') > 0 ? ip.slice(7) : ip;
}

/** `ip:port`, with IPv6 in brackets. */
export function formatHostPort(ip: string, port: number | undefined): string {
  return ip.indexOf(':') >= 0 ? `[${ip}]:${port ?? 0}` : `${ip}:${port ?? 0}`;
}
