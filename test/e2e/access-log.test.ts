// Access logs never stall traffic: lb writes its access lines through an asynchronous
// destination, so with its stdout pipe not read at all during a burst of 100,000 short
// connections (a synchronous logger would block on the full pipe and stop serving), every
// connection is still served; then every line arrives, one per connection, none lost.
import t from 'tap';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { echoServer } from '../support/backends.js';
import { writeConfig, LB_BIN } from '../support/lb-process.js';
import { simpleConfig } from '../support/lb.js';

const CONNECTIONS = Number(process.env.LB_TEST_BURST ?? 100_000);
const CONCURRENCY = 64;
// 100k connections take 30-90 s on this 2-core box depending on its load: the file needs more
// than the suite's default per-file timeout.
t.setTimeout(300_000);

function shortConnection(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let got = 0;
    s.on('data', (d: Buffer) => (got += d.length));
    s.on('error', () => resolve(false));
    s.on('close', () => resolve(got === 1));
    s.end('x');
  });
}

t.test(`${CONNECTIONS} short connections with lb's stdout unread`, { timeout: 240_000 }, async (t) => {
  const echo = await echoServer();
  t.teardown(() => echo.close());
  // Bind a known free port up front: we will not read lb's stdout to learn it.
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const file = writeConfig(simpleConfig([echo.port]).replace('bind = "127.0.0.1:0"', `bind = "127.0.0.1:${port}"`).replace('drain_timeout = "1s"', 'drain_timeout = "5s"\nmax_connections = 1000000').replace('pool = "p"', 'pool = "p"\nmax_connections = 1000000'));
  const child = spawn(process.execPath, [LB_BIN, 'run', '-c', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const stdout = child.stdout!;
  // Read until the listener is up, then stop reading: the pipe (64 KiB) fills within a few
  // hundred lines and stays full for the rest of the burst.
  let text = '';
  stdout.setEncoding('utf8');
  const onData = (d: string): void => {
    text += d;
  };
  stdout.on('data', onData);
  while (!text.includes('"msg":"started"')) await once(stdout, 'data');
  stdout.off('data', onData);
  stdout.pause();

  let ok = 0;
  let failed = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < CONNECTIONS) {
      next++;
      if (await shortConnection(port)) ok++;
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  t.equal(failed, 0, `${ok} served, ${failed} failed while nobody read lb's logs`);

  // Now read everything: one access line per connection, none lost.
  let lines = 0;
  let buf = '';
  const counted = new Promise<void>((resolve) => {
    stdout.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        if (buf.slice(0, i).includes('"msg":"session ended"')) lines++;
        buf = buf.slice(i + 1);
      }
      if (lines >= CONNECTIONS) resolve();
    });
  });
  stdout.resume();
  await counted;
  t.equal(lines, CONNECTIONS, 'every access line arrived');
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number];
  t.equal(code, 0);
});
