// Review: `proxy_protocol = "v1"` is accepted by the config (SPEC: "header sent to each
// backend connection") but tcp-session.ts never writes a header: the backend sees the
// client's bytes only, and would take lb's address for the client's.
import t from 'tap';
import { startServer, connect, collect } from '../support/backends.js';
import { startLb, simpleConfig } from '../support/lb.js';

t.test('proxy_protocol = "v1": the backend reads a PROXY v1 line first', async (t) => {
  let report!: (b: Buffer) => void;
  const first = new Promise<Buffer>((r) => (report = r));
  const srv = await startServer((s) => {
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => {
      report(Buffer.concat(chunks));
      s.end();
    });
  });
  t.teardown(() => srv.close());
  const lb = await startLb(t, simpleConfig([srv.port], { listener: 'proxy_protocol = "v1"' }));
  const c = await connect(lb.port('front'));
  const done = collect(c);
  const clientPort = c.localPort;
  c.end('hello');
  const got = (await first).toString('latin1');
  await done;
  const header = `PROXY TCP4 127.0.0.1 127.0.0.1 ${clientPort} ${lb.port('front')}\r\n`;
  t.equal(got, header + 'hello');
});
