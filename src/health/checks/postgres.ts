// PostgreSQL health check (protocol 3.0): StartupMessage, then whatever authentication the
// server asks for (trust, cleartext, md5, SCRAM-SHA-256 with the server's signature
// verified), then one simple query, then Terminate. The query reads the role
// (pg_is_in_recovery(): true on a standby) and, for load, client backends over
// max_connections. The server logs a normal disconnection, never "could not receive data"
// or "incomplete startup packet".
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { failed, roleVerdict, type Dialogue, type Verdict, type WantRole } from '../conversation.js';

export interface PostgresCheck {
  readonly user: string;
  readonly password?: string;
  readonly database: string;
  readonly wantRole: WantRole;
  /** Also read client connections / max_connections. */
  readonly load: boolean;
}

const PROTOCOL_3 = 196608;
/** SCRAM iteration counts above this are refused: a hostile server must not burn lb's CPU. */
const SCRAM_MAX_ITERATIONS = 1_000_000;

/** A frontend message: type byte (none for the startup), int32 length, body. */
function message(type: string | null, body: Buffer): Buffer {
  const head = type === null ? 4 : 5;
  const out = Buffer.allocUnsafe(head + body.length);
  if (type !== null) out.write(type, 0, 'latin1');
  out.writeInt32BE(4 + body.length, head - 4);
  body.copy(out, head);
  return out;
}

const cstrings = (...parts: string[]): Buffer => Buffer.concat(parts.map((p) => Buffer.from(`${p}\0`, 'utf8')));

export function startupMessage(user: string, database: string): Buffer {
  const proto = Buffer.allocUnsafe(4);
  proto.writeInt32BE(PROTOCOL_3, 0);
  return message(null, Buffer.concat([proto, cstrings('user', user, 'database', database, 'application_name', 'lb-health'), Buffer.from([0])]));
}

const TERMINATE = message('X', Buffer.alloc(0));

function query(c: PostgresCheck): string {
  const cols = ['pg_is_in_recovery()'];
  if (c.load) {
    cols.push("(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')", "current_setting('max_connections')::int");
  }
  return `SELECT ${cols.join(', ')}`;
}

/** ErrorResponse / NoticeResponse fields → "SEVERITY: message (SQLSTATE)". */
function errorText(body: Buffer): string {
  const fields = new Map<string, string>();
  let at = 0;
  while (at < body.length && body[at] !== 0) {
    const end = body.indexOf(0, at + 1);
    if (end < 0) break;
    fields.set(String.fromCharCode(body[at]!), body.toString('utf8', at + 1, end));
    at = end + 1;
  }
  return `${fields.get('S') ?? 'ERROR'}: ${fields.get('M') ?? 'unknown error'}${fields.has('C') ? ` (${fields.get('C')})` : ''}`;
}

export function postgresDialogue(c: PostgresCheck): Dialogue {
  let at = 0;
  const scram = { nonce: '', firstBare: '', serverSignature: Buffer.alloc(0) };
  const row: (string | null)[] = [];
  let queried = false;

  const password = (): string | null => c.password ?? null;

  /** One backend message; a verdict ends the dialogue. */
  const handle = async (type: number, body: Buffer, write: (b: Buffer) => void): Promise<Verdict | null> => {
    switch (type) {
      case 0x52: { // 'R' Authentication*
        if (body.length < 4) return failed('short authentication message');
        const code = body.readInt32BE(0);
        if (code === 0) return null; // AuthenticationOk
        const pw = password();
        if (pw === null) return failed(`server asks for a password (authentication ${code}) and none is configured`);
        if (code === 3) {
          write(message('p', cstrings(pw)));
          return null;
        }
        if (code === 5) {
          if (body.length < 8) return failed('short md5 salt');
          const inner = createHash('md5').update(pw + c.user).digest('hex');
          const outer = createHash('md5').update(inner).update(body.subarray(4, 8)).digest('hex');
          write(message('p', cstrings(`md5${outer}`)));
          return null;
        }
        if (code === 10) {
          const mechanisms = body.toString('utf8', 4).split('\0');
          if (!mechanisms.includes('SCRAM-SHA-256')) return failed(`no supported SASL mechanism (server offers ${mechanisms.filter(Boolean).join(', ')})`);
          scram.nonce = randomBytes(18).toString('base64');
          scram.firstBare = `n=,r=${scram.nonce}`;
          const first = Buffer.from(`n,,${scram.firstBare}`, 'utf8');
          const len = Buffer.allocUnsafe(4);
          len.writeInt32BE(first.length, 0);
          write(message('p', Buffer.concat([cstrings('SCRAM-SHA-256'), len, first])));
          return null;
        }
        if (code === 11) {
          const serverFirst = body.toString('utf8', 4);
          const attrs = new Map(serverFirst.split(',').map((kv) => [kv.slice(0, 1), kv.slice(2)] as const));
          const r = attrs.get('r') ?? '';
          const salt = Buffer.from(attrs.get('s') ?? '', 'base64');
          const iterations = Number(attrs.get('i'));
          if (!r.startsWith(scram.nonce) || r.length === scram.nonce.length) return failed('SCRAM: server nonce does not extend ours');
          if (!Number.isInteger(iterations) || iterations < 1 || iterations > SCRAM_MAX_ITERATIONS) return failed(`SCRAM: iteration count ${attrs.get('i')} refused`);
          const salted = await new Promise<Buffer>((resolve, reject) =>
            pbkdf2(pw.normalize('NFKC'), salt, iterations, 32, 'sha256', (err, key) => (err ? reject(err) : resolve(key))),
          );
          const clientKey = createHmac('sha256', salted).update('Client Key').digest();
          const storedKey = createHash('sha256').update(clientKey).digest();
          const withoutProof = `c=biws,r=${r}`;
          const authMessage = `${scram.firstBare},${serverFirst},${withoutProof}`;
          const signature = createHmac('sha256', storedKey).update(authMessage).digest();
          for (let i = 0; i < clientKey.length; i++) clientKey[i]! ^= signature[i]!;
          const serverKey = createHmac('sha256', salted).update('Server Key').digest();
          scram.serverSignature = createHmac('sha256', serverKey).update(authMessage).digest();
          write(message('p', Buffer.from(`${withoutProof},p=${clientKey.toString('base64')}`, 'utf8')));
          return null;
        }
        if (code === 12) {
          const v = /(?:^|,)v=([^,]*)/.exec(body.toString('utf8', 4));
          const got = Buffer.from(v?.[1] ?? '', 'base64');
          if (got.length !== scram.serverSignature.length || !timingSafeEqual(got, scram.serverSignature)) return failed('SCRAM: the server signature is wrong');
          return null;
        }
        return failed(`unsupported authentication request ${code}`);
      }
      case 0x45: // 'E' ErrorResponse
        return failed(errorText(body));
      case 0x44: { // 'D' DataRow
        if (body.length < 2) return failed('short data row');
        let p = 2;
        for (let i = 0; i < body.readInt16BE(0); i++) {
          if (p + 4 > body.length) return failed('short data row');
          const n = body.readInt32BE(p);
          p += 4;
          if (n < 0) row.push(null);
          else {
            if (p + n > body.length) return failed('short data row');
            row.push(body.toString('utf8', p, p + n));
            p += n;
          }
        }
        return null;
      }
      case 0x5a: { // 'Z' ReadyForQuery
        if (!queried) {
          queried = true;
          write(message('Q', cstrings(query(c))));
          return null;
        }
        if (row[0] !== 't' && row[0] !== 'f') return failed(`pg_is_in_recovery() gave ${JSON.stringify(row[0] ?? null)}`);
        const clients = Number(row[1]);
        const max = Number(row[2]);
        const utilization = c.load && max > 0 && Number.isFinite(clients) ? Math.min(1, clients / max) : undefined;
        return roleVerdict(c.wantRole, row[0] === 't' ? 'replica' : 'primary', utilization);
      }
      default:
        // ParameterStatus, BackendKeyData, NoticeResponse, RowDescription, CommandComplete, ...
        return null;
    }
  };

  return {
    hello: startupMessage(c.user, c.database),
    goodbye: TERMINATE,
    async step(b, write) {
      while (b.length - at >= 5) {
        const length = b.readInt32BE(at + 1);
        if (length < 4) return failed(`bad message length ${length}`);
        if (b.length - at < 1 + length) return null;
        const type = b[at]!;
        const body = b.subarray(at + 5, at + 1 + length);
        at += 1 + length;
        const v = await handle(type, body, write);
        if (v !== null) return v;
      }
      return null;
    },
  };
}
