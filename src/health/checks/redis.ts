// Redis health check (RESP2): optional AUTH (with an ACL user when one is named), then ROLE
// when the pool wants a role or PING otherwise, then INFO clients/server figures when load is
// asked for, then QUIT, all pipelined in one write; the replies are read in order. ROLE's
// first element is "master", "slave" or "sentinel" (a sentinel is never a data backend).
import { failed, roleVerdict, type Dialogue, type Verdict, type Role, type WantRole } from '../conversation.js';

export interface RedisCheck {
  readonly user?: string;
  readonly password?: string;
  readonly wantRole: WantRole;
  /** Also ask INFO for connected_clients / maxclients. */
  readonly load: boolean;
}

/** A RESP2 command as an array of bulk strings (binary-safe: passwords may hold anything). */
export function command(...args: string[]): Buffer {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) parts.push(`$${Buffer.byteLength(a)}\r\n${a}\r\n`);
  return Buffer.from(parts.join(''));
}

type Value = string | number | null | Value[] | { error: string };
/** One RESP2 value at `at`: it and where it ends, null when more bytes are needed; throws on bad framing. */
export function readValue(b: Buffer, at: number, depth = 0): { value: Value; end: number } | null {
  if (at >= b.length) return null;
  const eol = b.indexOf('\r\n', at);
  if (eol < 0) return null;
  const line = b.toString('latin1', at + 1, eol);
  const next = eol + 2;
  switch (b[at]) {
    case 0x2b: // +
      return { value: line, end: next };
    case 0x2d: // -
      return { value: { error: line }, end: next };
    case 0x3a: // :
      return { value: Number(line), end: next };
    case 0x24: { // $
      const n = intOf(line);
      if (n < 0) return { value: null, end: next };
      if (b.length < next + n + 2) return null;
      return { value: b.toString('utf8', next, next + n), end: next + n + 2 };
    }
    case 0x2a: { // *
      const n = intOf(line);
      if (n < 0) return { value: null, end: next };
      if (depth > 4 || n > 1024) throw new Error('reply nested or long beyond a health reply');
      const items: Value[] = [];
      let end = next;
      for (let i = 0; i < n; i++) {
        const item = readValue(b, end, depth + 1);
        if (item === null) return null;
        items.push(item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default:
      throw new Error(`not a RESP reply (first byte 0x${b[at]!.toString(16).padStart(2, '0')})`);
  }
}

function intOf(s: string): number {
  if (!/^-?[0-9]{1,10}$/.test(s)) throw new Error(`bad RESP length ${JSON.stringify(s.slice(0, 16))}`);
  return Number(s);
}

const isError = (v: Value): v is { error: string } => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The INFO field `name` (a number), or undefined. */
function infoField(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}:([0-9]+)\\r?$`, 'm').exec(text);
  return m === null ? undefined : Number(m[1]);
}

export function redisDialogue(check: RedisCheck): Dialogue {
  const requests: Buffer[] = [];
  const expecting: ('auth' | 'role' | 'ping' | 'clients' | 'maxclients')[] = [];
  if (check.password !== undefined) {
    requests.push(check.user === undefined ? command('AUTH', check.password) : command('AUTH', check.user, check.password));
    expecting.push('auth');
  }
  const wantsRole = check.wantRole !== 'any';
  requests.push(command(wantsRole ? 'ROLE' : 'PING'));
  expecting.push(wantsRole ? 'role' : 'ping');
  if (check.load) {
    requests.push(command('INFO', 'clients'), command('CONFIG', 'GET', 'maxclients'));
    expecting.push('clients', 'maxclients');
  }
  let at = 0;
  let role: Role | undefined;
  let clients: number | undefined;
  return {
    hello: Buffer.concat(requests),
    goodbye: QUIT,
    step(b): Verdict | null {
      for (;;) {
        const r = readValue(b, at);
        if (r === null) return null;
        at = r.end;
        const v = r.value;
        const what = expecting.shift();
        if (isError(v)) return failed(what === 'auth' ? `auth failed: ${v.error}` : `${what ?? 'reply'}: ${v.error}`);
        if (what === 'ping' && v !== 'PONG') return failed(`PING answered ${JSON.stringify(v)}`);
        if (what === 'role') {
          const name = Array.isArray(v) ? v[0] : undefined;
          if (name === 'master') role = 'primary';
          else if (name === 'slave') role = 'replica';
          else return failed(`ROLE says ${JSON.stringify(name)} (not a data server)`);
        }
        if (what === 'clients' && typeof v === 'string') clients = infoField(v, 'connected_clients');
        let utilization: number | undefined;
        if (what === 'maxclients' && Array.isArray(v) && clients !== undefined && Number(v[1]) > 0) utilization = Math.min(1, clients / Number(v[1]));
        if (expecting.length === 0) return roleVerdict(check.wantRole, role, utilization);
      }
    },
  };
}

const QUIT = command('QUIT');
