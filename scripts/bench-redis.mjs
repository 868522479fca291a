#!/usr/bin/env node
// redis-benchmark requests/s and p50/p99 latency: direct to redis-server vs through lb
// (one worker) vs through HAProxy mode tcp when installed — same backend, same run,
// targets interleaved, median of --runs. Loopback only; every run is bounded by -n.
// Usage: node scripts/bench-redis.mjs [--runs 3] [--requests 100000] [--clients 50] [--algorithm round-robin]
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const RUNS = Number(arg('runs', 3));
const REQUESTS = Number(arg('requests', 100000));
const CLIENTS = Number(arg('clients', 50));
const ALGORITHM = arg('algorithm', 'round-robin');

const have = (cmd, a = ['--version']) => spawnSync(cmd, a, { stdio: 'ignore' }).status === 0;
if (!have('redis-server') || !have('redis-benchmark')) {
  console.error('needs redis-server and redis-benchmark: apt-get install redis-server redis-tools');
  process.exit(1);
}

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
function start(cmd, args) {
  const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(c);
  return c;
}
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

const dir = mkdtempSync(join(tmpdir(), 'lb-bench-'));
const redisPort = await freePort();
start('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
await waitPort(redisPort);

const targets = [{ name: 'direct', port: redisPort }];
const lbPort = await freePort();
writeFileSync(join(dir, 'lb.toml'), `[global]\nlog_level = "warn"\n[listeners.r]\nbind = "127.0.0.1:${lbPort}"\npool = "r"\n[pools.r]\nalgorithm = "${ALGORITHM}"\nbackends = [{ address = "127.0.0.1:${redisPort}" }]\n`);
start(process.execPath, [join(root, 'bin', 'lb'), 'run', '-c', join(dir, 'lb.toml')]);
await waitPort(lbPort);
targets.push({ name: 'lb', port: lbPort });
if (have('haproxy', ['-v'])) {
  const hp = await freePort();
  writeFileSync(join(dir, 'haproxy.cfg'), `global\n  maxconn 4000\n  nbthread 1\ndefaults\n  mode tcp\n  timeout connect 3s\n  timeout client 1h\n  timeout server 1h\nfrontend f\n  bind 127.0.0.1:${hp}\n  default_backend b\nbackend b\n  server s1 127.0.0.1:${redisPort}\n`);
  start('haproxy', ['-f', join(dir, 'haproxy.cfg'), '-db']);
  await waitPort(hp);
  targets.push({ name: 'haproxy', port: hp });
}

function bench(port) {
  const r = spawnSync('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), '-n', String(REQUESTS), '-c', String(CLIENTS), '-t', 'set,get', '--csv'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const rows = r.stdout.trim().split('\n').slice(1).map((l) => l.replace(/"/g, '').split(','));
  return Object.fromEntries(rows.map((c) => [c[0], { rps: Number(c[1]), p50: Number(c[4]), p99: Number(c[6]) }]));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = Object.fromEntries(targets.map((t) => [t.name, []]));
for (let run = 0; run < RUNS; run++) {
  for (const t of targets) {
    const load = loadavg()[0];
    results[t.name].push({ ...bench(t.port), load });
  }
}
console.log(`redis-benchmark -n ${REQUESTS} -c ${CLIENTS}, median of ${RUNS} interleaved runs; lb algorithm ${ALGORITHM}`);
console.log('target    test  req/s      ratio  p50 ms  p99 ms');
const summary = {};
for (const test of ['SET', 'GET']) {
  const directRps = median(results.direct.map((r) => r[test].rps));
  for (const t of targets) {
    const rps = median(results[t.name].map((r) => r[test].rps));
    const p50 = median(results[t.name].map((r) => r[test].p50));
    const p99 = median(results[t.name].map((r) => r[test].p99));
    summary[`${t.name}.${test}`] = { rps, p50, p99, ratio: rps / directRps };
    console.log(`${t.name.padEnd(9)} ${test.padEnd(5)} ${String(Math.round(rps)).padStart(8)}  ${(rps / directRps).toFixed(2).padStart(5)}  ${p50.toFixed(3).padStart(6)}  ${p99.toFixed(3).padStart(6)}`);
  }
}
console.log(JSON.stringify({ requests: REQUESTS, clients: CLIENTS, runs: RUNS, algorithm: ALGORITHM, summary }));
process.exit(0);
