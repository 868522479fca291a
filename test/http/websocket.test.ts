// WebSocket through the proxy: Upgrade passed as a raw tunnel. A minimal RFC 6455 server and
// client written here (handshake with Sec-WebSocket-Accept, one masked frame, echoed back).
import t from 'tap';
import net, { type Socket } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { startLb } from '../support/lb.js';
import { httpConfig, startBackend } from './helpers.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'; // RFC 6455 §1.3

function acceptOf(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** One frame (FIN, opcode) with payload < 126 bytes; masked when `mask` (client → server). */
function frame(opcode: number, payload: Buffer, mask: boolean): Buffer {
  const head = Buffer.from([0x80 | opcode, (mask ? 0x80 : 0) | payload.length]);
  if (!mask) return Buffer.concat([head, payload]);
  const key = randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ key[i % 4]!));
  return Buffer.concat([head, key, body]);
}

/** Parse one small frame from `b`: opcode and unmasked payload, or null if incomplete. */
function parseFrame(b: Buffer): { opcode: number; payload: Buffer; size: number } | null {
  if (b.length < 2) return null;
  const masked = (b[1]! & 0x80) !== 0;
  const len = b[1]! & 0x7f;
  const start = 2 + (masked ? 4 : 0);
  if (b.length < start + len) return null;
  let payload = b.subarray(start, start + len);
  if (masked) {
    const key = b.subarray(2, 6);
    payload = Buffer.from(payload.map((x, i) => x ^ key[i % 4]!));
  }
  return { opcode: b[0]! & 0x0f, payload, size: start + len };
}

/** Read from `s` until `done(buffer)` returns non-null. */
async function readUntil<T>(s: Socket, done: (b: Buffer) => T | null): Promise<T> {
  let buf = Buffer.alloc(0);
  for (;;) {
    const r = done(buf);
    if (r !== null) return r;
    const [chunk] = (await once(s, 'data')) as [Buffer];
    buf = Buffer.concat([buf, chunk]);
  }
}

t.test('WebSocket echo through the proxy', async (t) => {
  const backend = await startBackend(t, 'ws', (_req, res) => res.end('plain'));
  let upgradeHeaders: Record<string, string | string[] | undefined> = {};
  backend.server.on('upgrade', (req, socket: Socket, head: Buffer) => {
    upgradeHeaders = req.headers;
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${acceptOf(String(req.headers['sec-websocket-key']))}\r\n\r\n`,
    );
    let buf = head;
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (let f = parseFrame(buf); f !== null; f = parseFrame(buf)) {
        buf = buf.subarray(f.size);
        if (f.opcode === 0x8) socket.end(frame(0x8, f.payload, false));
        else socket.write(frame(f.opcode, f.payload, false));
      }
    });
    socket.on('error', () => {});
  });
  const lb = await startLb(t, httpConfig({ main: [backend.port] }));
  const c = net.connect(lb.port('web'), '127.0.0.1');
  await once(c, 'connect');
  const key = randomBytes(16).toString('base64');
  c.write(
    'GET /chat HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const head = await readUntil(c, (b) => {
    const end = b.indexOf('\r\n\r\n');
    return end < 0 ? null : b.subarray(0, end).toString('latin1');
  });
  t.match(head, /^HTTP\/1\.1 101 /);
  t.match(head, new RegExp(`Sec-WebSocket-Accept: ${acceptOf(key).replace(/[+/]/g, '\\$&')}`), 'accept key matches');
  t.equal(upgradeHeaders['upgrade'], 'websocket', 'backend saw the Upgrade');
  t.equal(upgradeHeaders['x-forwarded-for'], '127.0.0.1', 'and the forwarding fields');
  t.match(String(upgradeHeaders['forwarded']), /^for="127\.0\.0\.1:\d+";proto=http;host=ws\.example$/);

  // Frames after the head: the rest of the stream is the tunnel.
  let rest = Buffer.alloc(0);
  c.on('data', (d: Buffer) => (rest = Buffer.concat([rest, d])));
  const echoes: string[] = [];
  for (const text of ['hello', 'through', 'the tunnel']) {
    c.write(frame(0x1, Buffer.from(text), true));
    while (parseFrame(rest) === null) await once(c, 'data');
    const f = parseFrame(rest)!;
    rest = rest.subarray(f.size);
    echoes.push(f.payload.toString());
  }
  t.same(echoes, ['hello', 'through', 'the tunnel']);
  c.write(frame(0x8, Buffer.from([0x03, 0xe8]), true)); // close 1000; the backend closes too
  await once(c, 'close');
  t.match(await lb.logs.waitFor({ msg: 'request', path: '/chat' }), {
    status: 101,
    method: 'GET',
    host: 'ws.example',
    backend: `127.0.0.1:${backend.port}`,
    end: /^(client_closed|backend_closed)$/,
  });
  const line = lb.logs.matching({ msg: 'request', path: '/chat' })[0]!;
  t.ok((line.bytes_in as number) > 0 && (line.bytes_out as number) > 0, 'tunnel bytes counted');
  t.equal(lb.runtime.pools.get('main')!.backends[0]!.active, 0, 'backend slot released');
});

t.test('Upgrade with no backend up gets 503 on the raw socket', async (t) => {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  s.close();
  const lb = await startLb(t, httpConfig({ main: [port] }, { poolOpts: { main: 'retries = 0' } }));
  const c = net.connect(lb.port('web'), '127.0.0.1');
  c.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  let text = '';
  c.setEncoding('utf8').on('data', (d: string) => (text += d));
  await once(c, 'close');
  t.match(text, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
  t.match(await lb.logs.waitFor({ msg: 'request', path: '/ws' }), { status: 502, end: 'connect_failed', detail: 'ECONNREFUSED' });
});
