#!/usr/bin/env node
// wrk requests/s and p50/p99 latency for HTTP: direct to one node:http backend vs through lb
// (an http listener, two backends, keep-alive upstreams) vs through HAProxy `mode http` (same
// two backends) when installed. Targets interleaved, median of --runs. Loopback only.
// Usage: node scripts/bench-http.mjs [--runs 3] [--duration 5] [--connections 50] [--threads 2] [--log-level warn]
// Prints a table and writes the raw figures as JSON to stdout's last line.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg, cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const RUNS = Number(arg('runs', 3));
const DURATION = Number(arg('duration', 5));
const CONNECTIONS = Number(arg('connections', 50));
const THREADS = Number(arg('threads', 2));
// lb logs one access line per request at info; "warn" measures the proxy alone, "info" the
// product as deployed with access logs.
const LOG_LEVEL = arg('log-level', 'warn');
const WRK = '/usr/bin/wrk';
const HAPROXY = '/usr/sbin/haproxy';

const have = (cmd, a) => spawnSync(cmd, a, { stdio: 'ignore' }).error === undefined;
if (!have(WRK, ['--version'])) {
  console.error('needs wrk (apt-get install wrk)');
  process.exit(1);
}
const haveHaproxy = have(HAPROXY, ['-v']);

async function freePort() {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}
async function waitPort(port) {
  for (let i = 0; i < 400; i++) {
    const ok = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`port ${port} never opened`);
}
const children = [];
function start(cmd, args, opts = {}) {
  const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], ...opts });
  children.push(c);
  return c;
}
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

// Two backends, each its own process: a 13-byte answer, keep-alive (node:http defaults).
const BACKEND = `
const http = require('node:http');
const body = Buffer.from('hello, world\\n');
http.createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
}).listen(Number(process.argv[1]), '127.0.0.1');
`;
const backendPorts = [await freePort(), await freePort()];
for (const p of backendPorts) start(process.execPath, ['-e', BACKEND, String(p)]);
await Promise.all(backendPorts.map(waitPort));

const dir = mkdtempSync(join(tmpdir(), 'lb-bench-http-'));
const lbPort = await freePort();
const lbConfig = join(dir, 'lb.toml');
writeFileSync(
  lbConfig,
  `[global]
log_level = "${LOG_LEVEL}"
max_connections = 10000

[listeners.web]
protocol = "http"
bind = "127.0.0.1:${lbPort}"
pool = "p"

[pools.p]
algorithm = "round-robin"
backends = [${backendPorts.map((p) => `{ address = "127.0.0.1:${p}" }`).join(', ')}]
`,
);
start(process.execPath, [join(root, 'bin', 'lb'), 'run', '-c', lbConfig], { stdio: ['ignore', 'ignore', 'inherit'] });
await waitPort(lbPort);

const targets = [
  { name: 'direct', port: backendPorts[0] },
  { name: 'lb', port: lbPort },
];
if (haveHaproxy) {
  const hpPort = await freePort();
  const hpConfig = join(dir, 'haproxy.cfg');
  // maxconn 4000: the fd limit here is 20000 and HAProxy sizes its tables from maxconn.
  writeFileSync(
    hpConfig,
    `global
  maxconn 4000
  nbthread 1
defaults
  mode http
  timeout connect 3s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  http-reuse always
frontend web
  bind 127.0.0.1:${hpPort}
  default_backend p
backend p
  balance roundrobin
${backendPorts.map((p, i) => `  server b${i} 127.0.0.1:${p}`).join('\n')}
`,
  );
  start(HAPROXY, ['-f', hpConfig, '-db']);
  await waitPort(hpPort);
  targets.push({ name: 'haproxy', port: hpPort });
}

/** "1.23ms" / "850.00us" / "1.2s" → ms */
function toMs(text) {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

async function runWrk(port) {
  const c = spawn(WRK, ['-t', String(THREADS), '-c', String(CONNECTIONS), '-d', `${DURATION}s`, '--latency', `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  c.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  await once(c, 'exit');
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p50 = toMs(/ 50%\s+(\S+)/.exec(out)?.[1] ?? '');
  const p99 = toMs(/ 99%\s+(\S+)/.exec(out)?.[1] ?? '');
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return { rps, p50, p99, errors, non2xx };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

// Warm-up (JIT, keep-alive pools), then interleaved runs so drift hits every target alike.
for (const tg of targets) await runWrk(tg.port);
const results = Object.fromEntries(targets.map((tg) => [tg.name, []]));
for (let r = 0; r < RUNS; r++) {
  for (const tg of targets) results[tg.name].push(await runWrk(tg.port));
}

console.log(`wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION}s, median of ${RUNS} interleaved runs; ${cpus().length} CPUs, load ${loadavg()[0].toFixed(2)}; lb log_level ${LOG_LEVEL}`);
console.log('target    requests/s    p50 ms    p99 ms   errors  non-2xx');
const summary = {};
for (const tg of targets) {
  const rs = results[tg.name];
  const row = {
    rps: median(rs.map((x) => x.rps)),
    p50: median(rs.map((x) => x.p50)),
    p99: median(rs.map((x) => x.p99)),
    errors: rs.reduce((a, x) => a + x.errors, 0),
    non2xx: rs.reduce((a, x) => a + x.non2xx, 0),
  };
  summary[tg.name] = row;
  console.log(
    `${tg.name.padEnd(8)} ${row.rps.toFixed(0).padStart(11)} ${row.p50.toFixed(2).padStart(9)} ${row.p99.toFixed(2).padStart(9)} ${String(row.errors).padStart(8)} ${String(row.non2xx).padStart(8)}`,
  );
}
console.log(JSON.stringify({ bench: 'http', threads: THREADS, connections: CONNECTIONS, durationS: DURATION, runs: RUNS, logLevel: LOG_LEVEL, results: summary }));
process.exit(0);
