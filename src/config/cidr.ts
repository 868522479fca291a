// CIDR strings → Cidr, parsed once at load (the ACL hot path never builds Address objects:
// NODE20.md measured that at 40–95% of a core). `network` is the masked network address,
// ready for net.BlockList.addSubnet(network, prefix, family === 4 ? 'ipv4' : 'ipv6').
import { Address4, Address6 } from 'ip-address';
import type { Cidr } from './types.js';
import { describeValue, type Parsed } from './parsed.js';

/** A parsed CIDR, plus a warning when the address had host bits set ("10.1.2.3/8"). */
export interface ParsedCidr {
  readonly cidr: Cidr;
  readonly warning?: string;
}

const PREFIX = /^(?:0|[1-9][0-9]{0,2})$/;

/** Parse `10.0.0.0/8`, `::1/128`, or a bare IP (meaning /32 or /128). */
export function parseCidr(input: unknown): Parsed<ParsedCidr> {
  const example = 'e.g. "10.0.0.0/8", "192.168.1.10" or "::1/128"';
  if (typeof input !== 'string') {
    return { ok: false, message: `must be a CIDR string, ${example} (got ${describeValue(input)})` };
  }
  const text = input;
  const got = `(got ${JSON.stringify(text)})`;
  const slash = text.indexOf('/');
  const ip = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? null : text.slice(slash + 1);
  let family: 4 | 6;
  if (!ip.includes('%') && Address4.isValid(ip) && !ip.includes('/')) family = 4;
  else if (!ip.includes('%') && Address6.isValid(ip) && !ip.includes('/')) family = 6;
  else return { ok: false, message: `must be a CIDR such as "10.0.0.0/8" or "::1/128", or an IP address ${got}` };
  const maxPrefix = family === 4 ? 32 : 128;
  if (prefixText !== null && !PREFIX.test(prefixText)) {
    return { ok: false, message: `the prefix length after "/" must be a number from 0 to ${maxPrefix} ${got}` };
  }
  const prefix = prefixText === null ? maxPrefix : Number(prefixText);
  if (prefix > maxPrefix) {
    return { ok: false, message: `the prefix length after "/" must be a number from 0 to ${maxPrefix} for IPv${family} ${got}` };
  }
  const parsed = family === 4 ? new Address4(`${ip}/${prefix}`) : new Address6(`${ip}/${prefix}`);
  const network = parsed.startAddress().correctForm();
  const address = parsed.correctForm();
  const cidr: Cidr = { text: `${network}/${prefix}`, network, prefix, family };
  if (address !== network) {
    return {
      ok: true,
      value: { cidr, warning: `host bits are set: ${JSON.stringify(text)} is read as "${cidr.text}"` },
    };
  }
  return { ok: true, value: { cidr } };
}
