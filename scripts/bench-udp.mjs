#!/usr/bin/env node
// UDP datagrams/s and latency: direct to a sockperf server vs through lb (one session) vs
// through NGINX stream (udp) when installed; targets interleaved, median of --runs.
// Latency: sockperf ping-pong (one datagram in flight). Rate: sockperf under-load at
// --mps=max with a reply to every datagram; the figure is replies received per second.
// Loopback only; every run is bounded by -t. Usage: node scripts/bench-udp.mjs [--runs 3] [--seconds 4]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import dgram from 'node:dgram';
import { once } from 'node:events';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (n, d) => (process.argv.includes(`--${n}`) ? process.argv[process.argv.indexOf(`--${n}`) + 1] : d);
const RUNS = Number(arg('runs', 3));
const SECONDS = Number(arg('seconds', 4));
const have = (cmd, a) => spawnSync(cmd, a, { stdio: 'ignore' }).status === 0;
if (!have('sockperf', ['--version'])) {
  console.error('needs sockperf: apt-get install sockperf');
  process.exit(1);
}
async function freeUdpPort() {
  const s = dgram.createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  const p = s.address().port;
  s.close();
  return p;
}
const children = [];
const start = (cmd, args) => {
  const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(c);
  return c;
};
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));
const dir = mkdtempSync(join(tmpdir(), 'lb-bench-udp-'));

const backendPort = await freeUdpPort();
start('sockperf', ['server', '-i', '127.0.0.1', '-p', String(backendPort)]);
const targets = [{ name: 'direct', port: backendPort }];

const lbPort = await freeUdpPort();
writeFileSync(join(dir, 'lb.toml'), `[global]\nlog_level = "warn"\n[listeners.u]\nprotocol = "udp"\nbind = "127.0.0.1:${lbPort}"\npool = "u"\nsession_timeout = "30s"\n[pools.u]\nbackends = [{ address = "127.0.0.1:${backendPort}" }]\n`);
start(process.execPath, [join(root, 'bin', 'lb'), 'run', '-c', join(dir, 'lb.toml')]);
targets.push({ name: 'lb', port: lbPort });

if (have('nginx', ['-v'])) {
  const np = await freeUdpPort();
  writeFileSync(join(dir, 'nginx.conf'), `load_module /usr/lib/nginx/modules/ngx_stream_module.so;\nworker_processes 1;\ndaemon off;\npid ${dir}/nginx.pid;\nerror_log stderr error;\nevents { worker_connections 4096; }\nstream {\n  upstream u { server 127.0.0.1:${backendPort}; }\n  server { listen 127.0.0.1:${np} udp; proxy_pass u; proxy_timeout 30s; }\n}\n`);
  start('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir]);
  targets.push({ name: 'nginx', port: np });
}
await new Promise((r) => setTimeout(r, 700)); // let every process bind (UDP has no connect to poll)

function sockperf(mode, port, extra) {
  const r = spawnSync('sockperf', [mode, '-i', '127.0.0.1', '-p', String(port), '-t', String(SECONDS), ...extra], { encoding: 'utf8' });
  return r.stdout + r.stderr;
}
function pingPong(port) {
  const out = sockperf('ping-pong', port, []);
  const pct = (p) => Number(new RegExp(`percentile ${p} =\\s+([\\d.]+)`).exec(out)?.[1]);
  return { p50us: pct('50.000'), p99us: pct('99.000'), avgus: Number(/avg-latency=([\d.]+)/.exec(out)?.[1]) };
}
function rate(port) {
  const out = sockperf('under-load', port, ['--mps=max', '--reply-every=1']);
  const m = /\[Valid Duration\] RunTime=([\d.]+) sec; SentMessages=(\d+); ReceivedMessages=(\d+)/.exec(out);
  return m ? { sentPerSec: Number(m[2]) / Number(m[1]), repliesPerSec: Number(m[3]) / Number(m[1]) } : { sentPerSec: 0, repliesPerSec: 0 };
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const res = Object.fromEntries(targets.map((t) => [t.name, []]));
for (let run = 0; run < RUNS; run++) {
  for (const t of targets) res[t.name].push({ load: loadavg()[0], ...pingPong(t.port), ...rate(t.port) });
}
console.log(`UDP via sockperf, ${SECONDS}s per measurement, median of ${RUNS} interleaved runs (2 cores shared by client, proxy and server)`);
console.log('target   replies/s  ratio  p50 us  p99 us');
const direct = median(res.direct.map((r) => r.repliesPerSec));
const summary = {};
for (const t of targets) {
  const rows = res[t.name];
  const s = { repliesPerSec: median(rows.map((r) => r.repliesPerSec)), p50us: median(rows.map((r) => r.p50us)), p99us: median(rows.map((r) => r.p99us)) };
  summary[t.name] = { ...s, ratio: s.repliesPerSec / direct, loads: rows.map((r) => r.load) };
  console.log(`${t.name.padEnd(8)} ${String(Math.round(s.repliesPerSec)).padStart(9)}  ${(s.repliesPerSec / direct).toFixed(2).padStart(5)}  ${s.p50us.toFixed(1).padStart(6)}  ${s.p99us.toFixed(1).padStart(6)}`);
}
console.log(JSON.stringify({ seconds: SECONDS, runs: RUNS, summary }));
process.exit(0);
