// `lb demo`: three local TCP echo backends, a balancer with a built-in config on free
// loopback ports, client traffic through it, and a live per-backend table.
// The config goes through the same parser and validator as a user's file.
import { parseConfigText } from '../config/load.js';
import { formatProblem } from '../config/validate.js';
import pino from 'pino';
import { Runtime } from '../runtime/runtime.js';
import { startTcpEcho, type DemoBackend } from '../demo/echo-backends.js';
import { DemoTraffic } from '../demo/traffic.js';
import { renderTable, formatBytes } from './format.js';
import type { TcpListener } from '../listeners/tcp/tcp-listener.js';

export function demoConfigText(ports: readonly number[]): string {
  return `# lb demo: built-in config
[global]
log_level = "warn"
drain_timeout = "1s"

[listeners.echo]
protocol = "tcp"
bind = "127.0.0.1:0"
pool = "echo"
connect_timeout = "1s"
idle_timeout = "30s"

[pools.echo]
algorithm = "round-robin"
backends = [
${ports.map((p, i) => `  { address = "127.0.0.1:${p}", weight = ${i === ports.length - 1 ? 2 : 1} },`).join('\n')}
]
`;
}

export async function demoCommand(opts: { duration?: number }): Promise<number> {
  const backends: DemoBackend[] = [];
  for (const name of ['echo-a', 'echo-b', 'echo-c']) backends.push(await startTcpEcho(name));
  const loaded = parseConfigText(demoConfigText(backends.map((b) => b.port)), '<demo>');
  if (!loaded.ok) {
    for (const p of loaded.problems) process.stderr.write(formatProblem(p) + '\n');
    return 1;
  }
  // Warnings and errors only, so the table stays readable; access lines are not shown.
  const log = pino({ level: 'warn' }, pino.destination(2));
  const runtime = new Runtime(loaded.config, log);
  await runtime.start();
  const listener = runtime.listeners.get('echo') as TcpListener;
  const pool = runtime.pools.get('echo')!;
  const tty = process.stdout.isTTY === true;
  process.stdout.write(
    `lb demo: balancer on ${listener.boundAddress()} (round-robin, weights 1/1/2) in front of ` +
      `3 echo backends; 4 clients${opts.duration ? `; ${opts.duration}s` : '; Ctrl-C to stop'}\n\n`,
  );
  const traffic = new DemoTraffic(listener.port, 4);
  const started = performance.now();
  let lines = 0;
  const draw = (): void => {
    const rows = pool.backends.map((b) => [b.key, b.state, b.weight, b.active, b.total, formatBytes(b.bytesIn), formatBytes(b.bytesOut)]);
    const secs = ((performance.now() - started) / 1000).toFixed(0);
    const text =
      renderTable(['backend', 'state', 'weight', 'active', 'total', 'bytes in', 'bytes out'], rows) +
      `\n${secs}s  exchanges ok ${traffic.stats.ok}, failed ${traffic.stats.failed}, echoed ${formatBytes(traffic.stats.bytes)}\n`;
    if (tty && lines > 0) process.stdout.write(`\x1b[${lines}A\x1b[J`);
    process.stdout.write(tty ? text : text + '\n');
    lines = text.split('\n').length - 1;
  };
  const timer = setInterval(draw, tty ? 500 : 1000);
  await new Promise<void>((resolve) => {
    const done = (): void => resolve();
    if (opts.duration !== undefined) setTimeout(done, opts.duration * 1000).unref();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  clearInterval(timer);
  await traffic.stop();
  draw();
  await runtime.stop(1000);
  await Promise.all(backends.map((b) => b.close()));
  const failed = traffic.stats.failed;
  process.stdout.write(failed === 0 ? 'every echo came back byte for byte.\n' : `${failed} exchanges failed.\n`);
  return 0;
}
