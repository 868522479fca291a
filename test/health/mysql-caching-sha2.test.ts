// caching_sha2_password (MySQL 8's default), which Debian's MariaDB does not speak: the check
// against a real-socket server that implements the server's side from the protocol's
// definition. It verifies the fast-auth scramble against SHA256(SHA256(password)) (what a
// MySQL server stores) and, for full authentication, sends its RSA public key and decrypts
// the OAEP-encrypted password; then answers the role query and COM_QUIT.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { constants, createHash, generateKeyPairSync, privateDecrypt, randomBytes } from 'node:crypto';
import { converse } from '../../src/health/conversation.js';
import { mysqlDialogue } from '../../src/health/checks/mysql.js';

const sha256 = (...parts: Buffer[]): Buffer => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest();
const xor = (a: Buffer, b: Buffer): Buffer => Buffer.from(a.map((x, i) => x ^ b[i % b.length]!));
const packet = (seq: number, payload: Buffer): Buffer => {
  const head = Buffer.alloc(4);
  head.writeUIntLE(payload.length, 0, 3);
  head[3] = seq;
  return Buffer.concat([head, payload]);
};
const lenenc = (s: string): Buffer => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]);

const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PEM = publicKey.export({ type: 'spki', format: 'pem' }).toString();

/** A server for one user/password; `fast`: the password is in its cache (fast auth), else full auth. */
async function fakeMysql(password: string, fast: boolean): Promise<{ port: number; events: string[]; close(): Promise<void> }> {
  const events: string[] = [];
  const stored = sha256(sha256(Buffer.from(password)));
  const server = net.createServer((s) => {
    const nonce = Buffer.from(randomBytes(20).map((b) => (b % 94) + 33)); // printable, no NUL
    const caps = 0x1 | 0x4 | 0x200 | 0x2000 | 0x8000 | 0x80000;
    const hs = Buffer.concat([
      Buffer.from([10]), Buffer.from('8.0.40-test\0'), Buffer.from([1, 0, 0, 0]), nonce.subarray(0, 8), Buffer.from([0]),
      Buffer.from([caps & 0xff, (caps >> 8) & 0xff, 45, 2, 0, (caps >> 16) & 0xff, (caps >> 24) & 0xff, 21]), Buffer.alloc(10),
      nonce.subarray(8), Buffer.from([0]), Buffer.from('caching_sha2_password\0'),
    ]);
    s.write(packet(0, hs));
    let buf = Buffer.alloc(0);
    let step = 0;
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUIntLE(0, 3)) {
        const len = buf.readUIntLE(0, 3);
        const seq = buf[3]!;
        const p = buf.subarray(4, 4 + len);
        buf = buf.subarray(4 + len);
        if (step === 0) {
          const userEnd = p.indexOf(0, 32);
          const auth = p.subarray(userEnd + 2, userEnd + 2 + p[userEnd + 1]!);
          const candidate = xor(auth, sha256(stored, nonce));
          const good = sha256(candidate).equals(stored);
          events.push(`scramble ${good ? 'ok' : 'bad'}`);
          if (fast && good) {
            s.write(packet(seq + 1, Buffer.from([0x01, 0x03])));
            s.write(packet(seq + 2, Buffer.from([0, 0, 0, 2, 0, 0, 0])));
            step = 2;
          } else {
            s.write(packet(seq + 1, Buffer.from([0x01, 0x04])));
            step = 1;
          }
        } else if (step === 1 && p[0] === 0x02) {
          events.push('key requested');
          s.write(packet(seq + 1, Buffer.concat([Buffer.from([0x01]), Buffer.from(PEM)])));
        } else if (step === 1) {
          const plain = xor(privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING }, p), nonce);
          const ok = plain.toString() === `${password}\0`;
          events.push(`full auth ${ok ? 'ok' : 'bad'}`);
          s.write(packet(seq + 1, ok ? Buffer.from([0, 0, 0, 2, 0, 0, 0]) : Buffer.concat([Buffer.from([0xff, 0x15, 0x04]), Buffer.from('#28000Access denied')])));
          step = ok ? 2 : 3;
        } else if (step === 2 && p[0] === 0x03) {
          events.push(`query ${p.toString('utf8', 1)}`);
          const eof = Buffer.from([0xfe, 0, 0, 2, 0]);
          s.write(Buffer.concat([
            packet(1, Buffer.from([2])), packet(2, lenenc('col')), packet(3, lenenc('col')), packet(4, eof),
            packet(5, Buffer.concat([lenenc('0'), lenenc('151')])), packet(6, eof),
          ]));
        } else if (p[0] === 0x01) {
          events.push('quit');
        }
      }
    });
    s.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, events, close: () => new Promise((r) => server.close(() => r())) };
}

const check = (password: string) => mysqlDialogue({ user: 'lb_check', password, wantRole: 'primary', load: false });

t.test('fast auth: the scramble verifies against SHA256(SHA256(password))', async (t) => {
  const srv = await fakeMysql('caching pw', true);
  t.teardown(() => srv.close());
  const r = await converse({ host: '127.0.0.1', port: srv.port, timeoutMs: 3000 }, check('caching pw'));
  t.same([r.ok, r.role], [true, 'primary'], r.detail);
  await new Promise((r) => setImmediate(r));
  t.same(srv.events.slice(0, 2), ['scramble ok', 'query SELECT @@global.read_only, @@global.max_connections']);
});

t.test('full auth over plain TCP: the RSA key is asked for and the password decrypts', async (t) => {
  const srv = await fakeMysql('caching pw', false);
  t.teardown(() => srv.close());
  const r = await converse({ host: '127.0.0.1', port: srv.port, timeoutMs: 3000 }, check('caching pw'));
  t.equal(r.ok, true, r.detail);
  t.same(srv.events.slice(0, 3), ['scramble ok', 'key requested', 'full auth ok']);
  const bad = await converse({ host: '127.0.0.1', port: srv.port, timeoutMs: 3000 }, check('wrong'));
  t.equal(bad.ok, false);
  t.match(bad.detail, /Access denied/);
  t.ok(srv.events.includes('scramble bad') && srv.events.includes('full auth bad'));
});
