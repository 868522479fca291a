// `lb demo`: three local TCP echo backends, a balancer with a built-in config on free
// loopback ports, client traffic through it, and a live per-backend table.
// The config goes through the same parser and validator as a user's file.
import { parseConfigText } from '../config/load.js';
import { formatProblem } from '../config/validate.js';
import pino from 'pino';
import { Runtime } from '../runtime/runtime.js';
import { startTcpEcho, startUdpEcho, type DemoBackend } from '../demo/echo-backends.js';
import { tcpTraffic, udpTraffic } from '../demo/traffic.js';
import type { UdpListener } from '../listeners/udp/udp-listener.js';
import { renderTable, formatBytes } from './format.js';
import type { TcpListener } from '../listeners/tcp/tcp-listener.js';

export function demoConfigText(ports: readonly number[], udpPort: number): string {
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

[listeners.game]
protocol = "udp"
bind = "127.0.0.1:0"
pool = "game"
session_timeout = "2s"

[pools.game]
algorithm = "consistent-hash"
hash_key = "source-ip-port"
backends = [{ address = "127.0.0.1:${udpPort}" }]
`;
}

export async function demoCommand(opts: { duration?: number }): Promise<number> {
  const backends: DemoBackend[] = [];
  for (const name of ['echo-a', 'echo-b', 'echo-c']) backends.push(await startTcpEcho(name));
  const udpEcho = await startUdpEcho('udp-echo');
  const loaded = parseConfigText(demoConfigText(backends.map((b) => b.port), udpEcho.port), '<demo>');
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
  const game = runtime.listeners.get('game') as UdpListener;
  const gamePool = runtime.pools.get('game')!;
  const tty = process.stdout.isTTY === true;
  process.stdout.write(
    `lb demo: balancer on ${listener.boundAddress()} (round-robin, weights 1/1/2) in front of ` +
      `3 TCP echo backends; UDP on ${game.boundAddress()} in front of 1 UDP echo backend; ` +
      `4 TCP and 3 UDP clients${opts.duration ? `; ${opts.duration}s` : '; Ctrl-C to stop'}\n\n`,
  );
  const traffic = tcpTraffic(listener.port, 4);
  const udp = udpTraffic(game.port, 3);
  const started = performance.now();
  let lines = 0;
  const draw = (): void => {
    const row = (proto: string, b: (typeof pool.backends)[number]): (string | number)[] =>
      [proto, b.key, b.state, b.weight, b.active, b.total, formatBytes(b.bytesIn), formatBytes(b.bytesOut)];
    const rows = [...pool.backends.map((b) => row('tcp', b)), ...gamePool.backends.map((b) => row('udp', b))];
    const secs = ((performance.now() - started) / 1000).toFixed(0);
    const text =
      renderTable(['proto', 'backend', 'state', 'weight', 'active', 'total', 'bytes in', 'bytes out'], rows) +
      `\n${secs}s  tcp exchanges ok ${traffic.stats.ok}, failed ${traffic.stats.failed}; ` +
      `udp datagrams echoed ${udp.stats.ok}, failed ${udp.stats.failed}; ${game.sessions.size} udp sessions\n`;
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
  await Promise.all([traffic.stop(), udp.stop()]);
  draw();
  await runtime.stop(1000);
  await Promise.all([...backends, udpEcho].map((b) => b.close()));
  const failed = traffic.stats.failed + udp.stats.failed;
  process.stdout.write(failed === 0 ? 'every echo came back byte for byte.\n' : `${failed} exchanges failed.\n`);
  return 0;
}
