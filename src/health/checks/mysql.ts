// MySQL / MariaDB health check (client/server protocol 4.1): the server's handshake, a
// HandshakeResponse41 with mysql_native_password or caching_sha2_password (an auth switch to
// the other one is followed; caching_sha2's full authentication over plain TCP asks for the
// server's RSA key and sends the password OAEP-encrypted), then one COM_QUERY for the role
// (@@global.read_only: a replica, or a primary fenced by super_read_only, which sets it too)
// and max_connections, SHOW GLOBAL STATUS for Threads_connected when load is asked, then
// COM_QUIT. A finished handshake never counts toward max_connect_errors; an ERR from the
// server (a blocked host, a bad password) fails the check with the server's text.
import { constants, createHash, publicEncrypt } from 'node:crypto';
import { failed, roleVerdict, type Dialogue, type Verdict, type WantRole } from '../conversation.js';

export interface MysqlCheck {
  readonly user: string;
  readonly password?: string;
  readonly wantRole: WantRole;
  /** Also read Threads_connected / max_connections. */
  readonly load: boolean;
}

const CLIENT_LONG_PASSWORD = 0x1;
const CLIENT_LONG_FLAG = 0x4;
const CLIENT_PROTOCOL_41 = 0x200;
const CLIENT_TRANSACTIONS = 0x2000;
const CLIENT_SECURE_CONNECTION = 0x8000;
const CLIENT_PLUGIN_AUTH = 0x80000;
const CAPABILITIES = CLIENT_LONG_PASSWORD | CLIENT_LONG_FLAG | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;
const UTF8MB4_GENERAL_CI = 45;
const COM_QUIT = 0x01;
const COM_QUERY = 0x03;

function packet(seq: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeUIntLE(payload.length, 0, 3);
  out[3] = seq & 0xff;
  payload.copy(out, 4);
  return out;
}

const sha1 = (...parts: Buffer[]): Buffer => parts.reduce((h, p) => h.update(p), createHash('sha1')).digest();
const sha256 = (...parts: Buffer[]): Buffer => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest();
function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i % b.length]!;
  return out;
}

/** The auth response of `plugin` for `password` and the server's 20-byte scramble; null for a plugin lb does not speak. */
export function scramble(plugin: string, password: string, nonce: Buffer): Buffer | null {
  if (password === '') return Buffer.alloc(0);
  const pw = Buffer.from(password, 'utf8');
  if (plugin === 'mysql_native_password') {
    const h1 = sha1(pw);
    return xor(h1, sha1(nonce, sha1(h1)));
  }
  if (plugin === 'caching_sha2_password') {
    const h1 = sha256(pw);
    return xor(h1, sha256(sha256(h1), nonce));
  }
  return null;
}

/** A length-encoded integer at `at`: [value, next], or null when it runs past `end`. */
function lenenc(b: Buffer, at: number, end: number): [number, number] | null {
  if (at >= end) return null;
  const first = b[at]!;
  if (first < 0xfb) return [first, at + 1];
  const size = first === 0xfc ? 2 : first === 0xfd ? 3 : first === 0xfe ? 8 : -1;
  if (size < 0 || at + 1 + size > end) return null;
  return [size === 8 ? Number(b.readBigUInt64LE(at + 1)) : b.readUIntLE(at + 1, size), at + 1 + size];
}

/** ERR packet payload → "ERROR 1129 (HY000): Host ... is blocked ...". */
function errText(p: Buffer): string {
  if (p.length < 3) return 'ERROR (short packet)';
  const code = p.readUInt16LE(1);
  const hasState = p[3] === 0x23; // '#'
  const state = hasState ? ` (${p.toString('latin1', 4, 9)})` : '';
  return `ERROR ${code}${state}: ${p.toString('utf8', hasState ? 9 : 3)}`;
}

export function mysqlDialogue(c: MysqlCheck): Dialogue {
  const password = c.password ?? '';
  let at = 0;
  let nonce: Buffer = Buffer.alloc(0);
  let plugin = '';
  /** handshake → auth → query results (read_only row, then status row) → done. */
  let phase: 'handshake' | 'auth' | 'query' = 'handshake';
  let queries = c.load ? 2 : 1;
  let inResult: { columns: number; seen: number; eof: boolean } | null = null;
  const rows: (string | null)[][] = [];

  const handle = (seq: number, p: Buffer, write: (b: Buffer) => void): Verdict | null => {
    if (phase === 'handshake') {
      if (p[0] === 0xff) return failed(errText(p));
      if (p[0] !== 10) return failed(`not a MySQL handshake (protocol ${p[0]})`);
      let i = p.indexOf(0, 1);
      if (i < 0 || i + 1 + 4 + 8 + 1 + 2 > p.length) return failed('short handshake');
      const part1 = p.subarray(i + 5, i + 13);
      i += 14; // past connection id, part 1, filler
      const capsLow = p.readUInt16LE(i);
      i += 2;
      let part2: Buffer = Buffer.alloc(0);
      if (i + 16 <= p.length) {
        const caps = capsLow | (p.readUInt16LE(i + 3) << 16);
        const dataLen = p[i + 5]!;
        i += 16; // charset, status, caps high, auth data length, reserved
        if ((caps & CLIENT_SECURE_CONNECTION) !== 0) {
          const n = Math.max(13, dataLen - 8);
          part2 = p.subarray(i, Math.min(p.length, i + n - 1)); // without its NUL
          i += n;
        }
        if ((caps & CLIENT_PLUGIN_AUTH) !== 0 && i < p.length) {
          const end = p.indexOf(0, i);
          plugin = p.toString('latin1', i, end < 0 ? p.length : end);
        }
      }
      if ((capsLow & CLIENT_PROTOCOL_41) === 0) return failed('server does not speak protocol 4.1');
      nonce = Buffer.concat([part1, part2]).subarray(0, 20);
      if (plugin === '') plugin = 'mysql_native_password';
      let auth = scramble(plugin, password, nonce);
      if (auth === null) {
        // Answer with mysql_native_password; the server switches us to its own if it must.
        plugin = 'mysql_native_password';
        auth = scramble(plugin, password, nonce)!;
      }
      const head = Buffer.alloc(32);
      head.writeUInt32LE(CAPABILITIES, 0);
      head.writeUInt32LE(16 * 1024 * 1024, 4);
      head[8] = UTF8MB4_GENERAL_CI;
      const user = Buffer.from(`${c.user}\0`, 'utf8');
      write(packet(seq + 1, Buffer.concat([head, user, Buffer.from([auth.length]), auth, Buffer.from(`${plugin}\0`, 'latin1')])));
      phase = 'auth';
      return null;
    }
    if (phase === 'auth') {
      if (p[0] === 0x00) {
        phase = 'query';
        write(packet(0, Buffer.concat([Buffer.from([COM_QUERY]), Buffer.from('SELECT @@global.read_only, @@global.max_connections')])));
        return null;
      }
      if (p[0] === 0xff) return failed(errText(p));
      if (p[0] === 0xfe) {
        // AuthSwitchRequest: plugin name, then its data (a new scramble).
        const end = p.indexOf(0, 1);
        plugin = p.toString('latin1', 1, end < 0 ? p.length : end);
        if (end >= 0) nonce = p.subarray(end + 1, Math.min(p.length, end + 21));
        const auth = scramble(plugin, password, nonce);
        if (auth === null) return failed(`server wants auth plugin ${JSON.stringify(plugin)}, which lb does not speak`);
        write(packet(seq + 1, auth));
        return null;
      }
      if (p[0] === 0x01 && plugin === 'caching_sha2_password') {
        if (p[1] === 0x03) return null; // fast auth: OK follows
        if (p[1] === 0x04) {
          write(packet(seq + 1, Buffer.from([0x02]))); // full auth: request the public key
          return null;
        }
        // The public key (PEM) in answer to the request.
        try {
          const secret = xor(Buffer.from(`${password}\0`, 'utf8'), nonce);
          write(packet(seq + 1, publicEncrypt({ key: p.toString('latin1', 1), padding: constants.RSA_PKCS1_OAEP_PADDING }, secret)));
        } catch (err) {
          return failed(`caching_sha2_password: bad server key (${(err as Error).message})`);
        }
        return null;
      }
      return failed(`unexpected auth reply 0x${p[0]?.toString(16) ?? ''}`);
    }
    // Text result sets: column count, column definitions, EOF, rows, EOF.
    if (inResult === null) {
      if (p[0] === 0xff) return failed(errText(p));
      const n = lenenc(p, 0, p.length);
      if (n === null || n[0] === 0) return failed('query gave no result set');
      inResult = { columns: n[0], seen: 0, eof: false };
      return null;
    }
    if (p[0] === 0xff) return failed(errText(p));
    const isEof = p[0] === 0xfe && p.length < 9;
    if (!inResult.eof) {
      if (isEof) inResult.eof = true;
      return null; // a column definition, or the EOF after them
    }
    if (!isEof) {
      const row: (string | null)[] = [];
      for (let i = 0, col = 0; col < inResult.columns; col++) {
        if (p[i] === 0xfb) {
          row.push(null);
          i++;
          continue;
        }
        const n = lenenc(p, i, p.length);
        if (n === null || n[1] + n[0] > p.length) return failed('short result row');
        row.push(p.toString('utf8', n[1], n[1] + n[0]));
        i = n[1] + n[0];
      }
      rows.push(row);
      return null;
    }
    inResult = null;
    queries--;
    if (queries > 0) {
      write(packet(0, Buffer.concat([Buffer.from([COM_QUERY]), Buffer.from("SHOW GLOBAL STATUS LIKE 'Threads_connected'")])));
      return null;
    }
    const readOnly = rows[0]?.[0];
    if (readOnly !== '0' && readOnly !== '1') return failed(`@@global.read_only gave ${JSON.stringify(readOnly ?? null)}`);
    const max = Number(rows[0]?.[1]);
    const threads = Number(rows[1]?.[1]);
    const utilization = c.load && max > 0 && Number.isFinite(threads) ? Math.min(1, threads / max) : undefined;
    return roleVerdict(c.wantRole, readOnly === '1' ? 'replica' : 'primary', utilization);
  };

  return {
    hello: Buffer.alloc(0),
    goodbye: packet(0, Buffer.from([COM_QUIT])),
    step(b, write) {
      while (b.length - at >= 4) {
        const length = b.readUIntLE(at, 3);
        if (b.length - at < 4 + length) return null;
        const seq = b[at + 3]!;
        const payload = b.subarray(at + 4, at + 4 + length);
        at += 4 + length;
        const v = handle(seq, payload, write);
        if (v !== null) return v;
      }
      return null;
    },
  };
}
