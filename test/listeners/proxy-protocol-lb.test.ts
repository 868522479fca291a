// PROXY protocol through a running lb, checked with a parser written from the spec: v1 and
// v2 on TCP (IPv4 and IPv6 clients), v2 DGRAM in front of every UDP datagram, and the
// client's bytes intact after the header.
import t from 'tap';
import { has6 } from '../support/net.js';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { startServer, connect, collect } from '../support/backends.js';
import { startLb, simpleConfig } from '../support/lb.js';
import { parseProxyHeader } from '../support/proxy-protocol-parser.js';


/** A backend that records everything it receives until the client ends. */
async function recorder(): Promise<{ port: number; received: Promise<Buffer>; close(): Promise<void> }> {
  let report!: (b: Buffer) => void;
  const received = new Promise<Buffer>((r) => (report = r));
  const srv = await startServer((s) => {
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => {
      report(Buffer.concat(chunks));
      s.end();
    });
  });
  return { port: srv.port, received, close: () => srv.close() };
}

for (const version of ['v1', 'v2'] as const) {
  for (const family of [4, 6] as const) {
    t.test(`TCP ${version}, IPv${family} client`, async (t) => {
      if (family === 6 && !(await has6())) return t.skip('no IPv6 loopback', () => {});
      const rec = await recorder();
      t.teardown(() => rec.close());
      const bind = family === 4 ? '127.0.0.1:0' : '[::1]:0';
      const lb = await startLb(t, simpleConfig([rec.port], { listener: `proxy_protocol = "${version}"` }).replace('bind = "127.0.0.1:0"', `bind = "${bind}"`));
      const host = family === 4 ? '127.0.0.1' : '::1';
      const c = await connect(lb.port('front'), host);
      const clientPort = c.localPort;
      const done = collect(c);
      c.end('payload after the header');
      const got = await rec.received;
      await done;
      const h = parseProxyHeader(got);
      t.equal(h.version, version === 'v1' ? 1 : 2);
      t.equal(h.command, 'proxy');
      t.equal(h.family, family === 4 ? 'inet' : 'inet6');
      t.equal(h.transport, 'stream');
      t.equal(h.srcIp, host);
      t.equal(h.srcPort, clientPort);
      t.equal(h.dstIp, host);
      t.equal(h.dstPort, lb.port('front'));
      t.equal(got.subarray(h.headerLength).toString(), 'payload after the header');
    });
  }
}

t.test('UDP v2: a DGRAM header in front of every datagram', async (t) => {
  const backend = dgram.createSocket('udp4');
  const seen: Buffer[] = [];
  let gotTwo!: () => void;
  const two = new Promise<void>((r) => (gotTwo = r));
  backend.on('message', (m, rinfo) => {
    seen.push(m);
    backend.send('ack', rinfo.port, rinfo.address);
    if (seen.length === 2) gotTwo();
  });
  backend.bind(0, '127.0.0.1');
  await once(backend, 'listening');
  t.teardown(() => backend.close());
  const lb = await startLb(t, `[listeners.u]
protocol = "udp"
bind = "127.0.0.1:0"
pool = "u"
proxy_protocol = "v2"
[pools.u]
backends = [{ address = "127.0.0.1:${backend.address().port}" }]
`);
  const c = dgram.createSocket('udp4');
  c.bind(0, '127.0.0.1');
  await once(c, 'listening');
  const clientPort = c.address().port;
  t.teardown(() => c.close());
  c.connect(lb.port('u'), '127.0.0.1');
  await once(c, 'connect');
  c.send('first');
  await once(c, 'message');
  c.send('second');
  await two;
  for (const [i, m] of seen.entries()) {
    const h = parseProxyHeader(m);
    t.equal(h.version, 2);
    t.equal(h.transport, 'dgram');
    t.equal(h.family, 'inet');
    t.equal(h.srcIp, '127.0.0.1');
    t.equal(h.srcPort, clientPort);
    t.equal(h.dstPort, lb.port('u'));
    t.equal(m.subarray(h.headerLength).toString(), i === 0 ? 'first' : 'second');
  }
});
