#!/usr/bin/env node
// lb against peers, side by side, on loopback: direct vs lb vs HAProxy (mode tcp) vs NGINX
// stream, with configs written here (one worker/thread each). TCP bulk (iperf3), request/
// response (redis-benchmark), new connections/s (redis-benchmark -k 0), UDP (sockperf),
// memory per idle connection and CPU per GB. Targets are interleaved within each repetition,
// the median of --runs is reported as a ratio to direct, with the 1-minute load average and
// the CPU used by other processes beside each figure. Writes bench-results/*.json and
// docs/benchmarks.md. Every process it starts is killed by PID at exit, also on SIGINT.
// `--quick`: lb vs direct only, Node clients and backends, no external tools, under 60 s.
// Usage: node scripts/bench.mjs [--quick] [--runs 3] [--help]
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { installCleanup, stopAll, cpuSnapshot, foreignCores, hardNofile } from './bench/proc.mjs';
import { ensureTools, nginxStream } from './bench/tools.mjs';
import { ROOT, startBackends, startProxy, directTarget, haproxyMaxconn, parseTargetName } from './bench/targets.mjs';
import * as m from './bench/measure.mjs';
import * as nc from './bench/node-clients.mjs';
import { summarize, textTable, markdownTable, machine } from './bench/report.mjs';
import { docsPage } from './bench/docs-page.mjs';

const HELP = `usage: node scripts/bench.mjs [options]        (npm run bench / npm run bench:quick)
  --quick               lb vs direct only, Node clients and backends, no external tools (< 60 s)
  --runs N              repetitions; the median is reported (default 3)
  --seconds S           length of each iperf3 / sockperf / Node-client phase (default 3; quick 2)
  --requests N          redis-benchmark requests per command, persistent connections (default 50000)
  --conn-requests N     redis-benchmark -k 0 requests, one connection each (default 10000)
  --clients N           redis-benchmark clients (default 50)
  --idle N              idle connections held for the memory figure (default 10000; scaled
                        down to what the hard fd limit allows, with a note)
  --targets LIST        comma list of direct,lb,lb-portable,haproxy,nginx (default all available), and
                        multi-core variants lb-w2 (workers = 2), haproxy-t2 (nbthread 2),
                        nginx-w2 (worker_processes 2); any count works (lb-w4...)
  --multicore           add lb-w2, haproxy-t2 and nginx-w2 to the targets
  --tests LIST          comma list of bulk1,bulk4,rr,conn,udp,idle (default all)
  --max-load X          a run during which other processes used more than X cores is marked
                        and re-run once (default 1.5)
  --budget S            total seconds: no re-run after it, and no repetition that would end
                        after it (default 570; quick 45)
  --out DIR             where the JSON goes (default bench-results/)
  --algorithm NAME      lb pool algorithm (default round-robin; one backend per pool either way)
  --docs / --no-docs    rewrite docs/benchmarks.md or not (default: only a full run with every
                        test and target rewrites it; --quick never does)
  --no-install          do not apt-get missing tools (never done when env CI is set)`;

function parseArgs(argv) {
  const o = { quick: false, install: true };
  const num = (k, v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${k} needs a positive number (got ${v})`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    switch (a) {
      case '--quick': o.quick = true; break;
      case '--docs': o.docs = true; break;
      case '--no-docs': o.docs = false; break;
      case '--algorithm': o.algorithm = v(); break;
      case '--no-install': o.install = false; break;
      case '--runs': o.runs = Math.floor(num('runs', v())); break;
      case '--seconds': o.seconds = num('seconds', v()); break;
      case '--requests': o.requests = Math.floor(num('requests', v())); break;
      case '--conn-requests': o.connRequests = Math.floor(num('conn-requests', v())); break;
      case '--clients': o.clients = Math.floor(num('clients', v())); break;
      case '--idle': o.idle = Math.floor(num('idle', v())); break;
      case '--max-load': o.maxLoad = num('max-load', v()); break;
      case '--budget': o.budget = num('budget', v()); break;
      case '--targets': o.targets = v().split(','); break;
      case '--multicore': o.multicore = true; break;
      case '--tests': o.tests = v().split(','); break;
      case '--out': o.out = v(); break;
      case '-h': case '--help': console.log(HELP); process.exit(0); break;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  return {
    runs: 3, seconds: o.quick ? 2 : 3, requests: 50000, connRequests: 10000, clients: 50, idle: 10000,
    maxLoad: 1.5, budget: o.quick ? 45 : 570, targets: ['direct', 'lb', 'lb-portable', 'haproxy', 'nginx'],
    out: join(ROOT, 'bench-results'), algorithm: 'round-robin', ...o,
    docs: o.docs ?? (!o.quick && !o.tests && !o.targets),
  };
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error(`bench: ${err.message}\n${HELP}`);
  process.exit(2);
}
const log = (s) => process.stderr.write(`${s}\n`);
const t0 = performance.now();
const elapsedS = () => (performance.now() - t0) / 1000;
const notes = [];
const note = (s) => (notes.push(s), log(`bench: note: ${s}`));

// ---------------------------------------------------------------------------------------------
// The tests. A test applies to a target that has a port for its `service`; `proxyOnly` tests
// skip direct. Metrics with `proxyOnly` have no ratio (direct has no proxy process).

const S = opts.seconds;
const FULL_TESTS = [
  {
    id: 'bulk1', service: 'iperf', limitS: S + 30, run: (t) => m.bulk(t, { streams: 1, seconds: S }),
    metrics: [
      { key: 'gbps', label: 'TCP bulk, iperf3, 1 stream', unit: 'Gbit/s', digits: 2 },
      { key: 'cpuSecPerGB', label: 'proxy CPU per GB, 1 stream', unit: 's/GB', digits: 2, proxyOnly: true },
      { key: 'bytes', table: false },
    ],
  },
  {
    id: 'bulk4', service: 'iperf', limitS: S + 30, run: (t) => m.bulk(t, { streams: 4, seconds: S }),
    metrics: [
      { key: 'gbps', label: 'TCP bulk, iperf3, 4 streams', unit: 'Gbit/s', digits: 2 },
      { key: 'cpuSecPerGB', label: 'proxy CPU per GB, 4 streams', unit: 's/GB', digits: 2, proxyOnly: true },
      { key: 'bytes', table: false },
    ],
  },
  {
    id: 'rr', service: 'redis', limitS: 100, run: (t) => m.redisKeepalive(t, { requests: opts.requests, clients: opts.clients }),
    metrics: [
      { key: 'setRps', label: `redis SET, ${opts.clients} persistent conns`, unit: 'req/s', digits: 'k' },
      { key: 'setP50', label: 'redis SET p50', unit: 'ms', digits: 3 },
      { key: 'setP99', label: 'redis SET p99', unit: 'ms', digits: 3 },
      { key: 'getRps', label: `redis GET, ${opts.clients} persistent conns`, unit: 'req/s', digits: 'k' },
      { key: 'getP50', label: 'redis GET p50', unit: 'ms', digits: 3 },
      { key: 'getP99', label: 'redis GET p99', unit: 'ms', digits: 3 },
    ],
  },
  {
    id: 'conn', service: 'redis', limitS: 100, run: (t) => m.connRate(t, { requests: opts.connRequests, clients: opts.clients }),
    metrics: [
      { key: 'connPerSec', label: 'new connections, redis-benchmark -k 0 GET', unit: 'conn/s', digits: 'k' },
      { key: 'connP50', table: false },
      { key: 'connP99', table: false },
    ],
  },
  {
    id: 'udp', service: 'udp', limitS: 2 * (S + 15) + 5, run: (t) => m.udp(t, { seconds: S }),
    metrics: [
      { key: 'udpRps', label: 'UDP replies, sockperf under-load max', unit: 'datagrams/s', digits: 'k' },
      { key: 'udpP50', label: 'UDP round trip p50, sockperf ping-pong', unit: 'µs', digits: 1 },
      { key: 'udpP99', label: 'UDP round trip p99, sockperf ping-pong', unit: 'µs', digits: 1 },
      { key: 'udpSentPerSec', table: false },
    ],
  },
  {
    id: 'idle', service: 'echo', proxyOnly: true, rerun: false, limitS: 150,
    run: (t) => m.idleMemory(t, { count: idleCount, peers: backends.peers, dir }),
    metrics: [
      { key: 'kibPerConn', label: `memory per idle connection (RSS, N held)`, unit: 'KiB', digits: 2, proxyOnly: true },
      { key: 'rssBeforeKiB', table: false },
      { key: 'rssAfterKiB', table: false },
    ],
  },
];

const QUICK_TESTS = [
  {
    id: 'qrr', service: 'echo', limitS: S + 15, run: (t) => nc.requestResponse(t.ports.echo, { seconds: S }),
    metrics: [
      { key: 'rrRps', label: 'request/response, 16 persistent conns, 64 B echo', unit: 'req/s', digits: 'k' },
      { key: 'rrP50', label: 'request/response p50', unit: 'ms', digits: 3 },
      { key: 'rrP99', label: 'request/response p99', unit: 'ms', digits: 3 },
    ],
  },
  {
    id: 'qconn', service: 'echo', limitS: S + 15, run: (t) => nc.connectionRate(t.ports.echo, { seconds: S }),
    metrics: [
      { key: 'connPerSec', label: 'new connections, 16 loops of connect/echo/close', unit: 'conn/s', digits: 'k' },
      { key: 'connP99', label: 'connection lifetime p99', unit: 'ms', digits: 3 },
      { key: 'connP50', table: false },
      { key: 'connErrors', table: false },
    ],
  },
  {
    id: 'qbulk', service: 'sink', limitS: S + 15, run: (t) => nc.bulk(t.ports.sink, { seconds: S, pid: t.pid }),
    metrics: [
      { key: 'gbps', label: 'bulk, 1 connection, 64 KiB writes', unit: 'Gbit/s', digits: 2 },
      { key: 'cpuSecPerGB', label: 'lb CPU per GB', unit: 's/GB', digits: 2, proxyOnly: true },
    ],
  },
];

// ---------------------------------------------------------------------------------------------
// Setup.

const dir = mkdtempSync(join(tmpdir(), 'lb-bench-'));
installCleanup(() => rmSync(dir, { recursive: true, force: true }));
const FULL_TOOLS = ['iperf3', 'redis-server', 'redis-benchmark', 'sockperf', 'haproxy', 'nginx', 'nginx-stream'];
const have = opts.quick ? new Set() : ensureTools(FULL_TOOLS, { install: opts.install, log });
let tests = opts.quick ? QUICK_TESTS : FULL_TESTS;
if (opts.tests) tests = tests.filter((t) => opts.tests.includes(t.id));

const backends = await startBackends(dir, have);
// Full runs route only what their tests use through the proxies; quick runs echo and sink.
const services = {};
for (const s of opts.quick ? ['echo', 'sink'] : ['redis', 'iperf', 'echo', 'udp']) if (backends.ports[s]) services[s] = backends.ports[s];

const wanted = opts.quick ? ['direct', 'lb'] : [...opts.targets, ...(opts.multicore ? ['lb-w2', 'haproxy-t2', 'nginx-w2'] : [])];
const targets = [];
if (wanted.includes('direct')) targets.push(directTarget(services));
for (const name of wanted.filter((n) => n !== 'direct')) {
  const parsed = parseTargetName(name);
  if (parsed === null) {
    log(`bench: unknown target ${name} (direct, lb, lb-portable, haproxy, nginx, or lb-wN, haproxy-tN, nginx-wN)`);
    await stopAll();
    process.exit(2);
  }
  if (parsed.proxy !== 'lb' && !have.has(parsed.proxy === 'nginx' ? 'nginx-stream' : parsed.proxy)) continue;
  let t;
  try {
    t = await startProxy(name, dir, services, { algorithm: opts.algorithm, nginxStreamLoad: parsed.proxy === 'nginx' ? nginxStream()?.load : undefined });
  } catch (err) {
    log(`bench: ${err.message}`);
    await stopAll();
    process.exit(1);
  }
  if (t) targets.push(t);
  else note(`${name} would not start; it is left out (configs and logs in ${dir})`);
}

// Memory per idle connection: a proxy holds 2 fds per client connection (client + upstream),
// and neither it nor HAProxy's maxconn may exceed the hard nofile limit.
const nofile = hardNofile();
const fdCap = Math.floor((nofile - 1000) / 2 / 1000) * 1000;
const idleCount = Math.max(100, Math.min(opts.idle, fdCap, haproxyMaxconn() - 100));
if (!opts.quick && idleCount < opts.idle && tests.some((t) => t.id === 'idle')) {
  note(`hard nofile limit is ${nofile} (ulimit -Hn) and a proxy needs 2 descriptors per held connection: memory per idle connection uses ${idleCount} connections instead of ${opts.idle}`);
}
if (!opts.quick && targets.some((t) => t.name.startsWith('haproxy')) && haproxyMaxconn() < 25000) {
  note(`HAProxy maxconn ${haproxyMaxconn()} instead of 25000: it refuses to start when it cannot raise its fd limit to ~2 × maxconn (hard limit ${nofile})`);
}
for (const test of tests) for (const mm of test.metrics) mm.label = mm.label?.replace('N held', `${idleCount} held`);

log(`bench: ${opts.quick ? 'quick' : 'full'} run, targets ${targets.map((t) => t.name).join(', ')}; tests ${tests.map((t) => t.id).join(', ')}; ${opts.runs} run(s); work dir ${dir}`);

// Warm-up, not recorded: lets lb's JIT settle so the first measured run is not its compile time.
for (const t of targets.filter((x) => x.pid)) {
  if (opts.quick) {
    await nc.requestResponse(t.ports.echo, { seconds: 0.5 }).catch(() => {});
  } else if (t.ports.redis) {
    await m.redisKeepalive(t, { requests: 5000, clients: 10 }).catch(() => {});
    await m.connRate(t, { requests: 500, clients: 10 }).catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// Measure: for each repetition, each test, each target (start rotated per repetition).

function withTimeout(promise, seconds) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no result after ${seconds} s`)), seconds * 1000))),
  ]);
}

async function attempt(test, target, rep) {
  const load1 = loadavg()[0];
  const a = cpuSnapshot();
  let values = null;
  let error = null;
  try {
    values = await withTimeout(test.run(target), test.limitS);
  } catch (err) {
    error = err.message;
  }
  const b = cpuSnapshot();
  const otherCores = foreignCores(a, b);
  return {
    rep, test: test.id, target: target.name, values, error, load1, load1After: loadavg()[0],
    otherCores, loaded: otherCores > opts.maxLoad, seconds: (b.t - a.t) / 1000,
  };
}

function describe(rec, test) {
  if (rec.error) return `error: ${rec.error}`;
  const main = test.metrics.filter((x) => x.table !== false).slice(0, 3);
  return main.map((x) => `${x.key}=${rec.values[x.key] == null ? '—' : Number(rec.values[x.key].toPrecision(4))}`).join(' ');
}

const records = [];
let repsDone = 0;
const measureStartS = elapsedS();
for (let rep = 1; rep <= opts.runs; rep++) {
  // A repetition that would not end within the budget (judged by the mean of those done) is not started.
  const perRep = rep > 1 ? (elapsedS() - measureStartS) / (rep - 1) : 0;
  if (rep > 1 && elapsedS() + perRep > opts.budget) {
    note(`time budget of ${opts.budget} s: ${rep - 1} of ${opts.runs} repetitions fitted (${perRep.toFixed(0)} s each); the rest were skipped`);
    break;
  }
  for (const test of tests) {
    const applies = targets.filter((t) => t.ports[test.service] && (!test.proxyOnly || t.pid));
    if (applies.length === 0) {
      if (rep === 1) note(`${test.id} skipped: no target has a ${test.service} backend (its tool is missing)`);
      continue;
    }
    const k = (rep - 1) % Math.max(1, applies.length);
    for (const target of [...applies.slice(k), ...applies.slice(0, k)]) {
      let rec = await attempt(test, target, rep);
      if (rec.loaded && test.rerun !== false && elapsedS() < opts.budget) {
        log(`bench: [${rep}] ${test.id} ${target.name}: other processes used ${rec.otherCores.toFixed(2)} cores; discarding and re-running once`);
        const again = await attempt(test, target, rep);
        again.discarded = { values: rec.values, load1: rec.load1, otherCores: rec.otherCores };
        rec = again;
      }
      records.push(rec);
      log(`bench: [${rep}/${opts.runs}] ${test.id.padEnd(6)} ${target.name.padEnd(8)} ${describe(rec, test)}  load1 ${rec.load1.toFixed(2)} others ${rec.otherCores.toFixed(2)}${rec.loaded ? ' (loaded)' : ''}`);
    }
  }
  repsDone = rep;
}

// ---------------------------------------------------------------------------------------------
// Report.

const targetNames = targets.map((t) => t.name);
const summary = summarize(tests, targetNames, records);
const table = textTable(tests, targetNames, summary);
const loadedCount = records.filter((r) => r.loaded).length;
const legend = `median of ${repsDone} run(s); ×r = ratio to direct (throughput: higher is better; latency: lower is better); ` +
  `load1 = 1-minute load average at the start of each figure's runs; others (other cores) = cores used by processes outside the benchmark during them; ` +
  `! = a run taken while others used more than ${opts.maxLoad} cores (${loadedCount} of ${records.length})`;
console.log(`\n${table}\n\n${legend}`);
for (const n of notes) console.log(`note: ${n}`);
const errors = records.filter((r) => r.error);
for (const r of errors) console.log(`error: [${r.rep}] ${r.test} ${r.target}: ${r.error}`);

const date = new Date();
const command = process.env.npm_lifecycle_event?.startsWith('bench')
  ? `npm run ${process.env.npm_lifecycle_event}${process.argv.length > (opts.quick ? 3 : 2) ? ` -- ${process.argv.slice(opts.quick ? 3 : 2).join(' ')}` : ''}`
  : `node scripts/bench.mjs ${process.argv.slice(2).join(' ')}`.trim();
const mach = machine(opts.quick ? [] : FULL_TOOLS.filter((n) => n !== 'nginx-stream' && have.has(n)));
const doc = {
  mode: opts.quick ? 'quick' : 'full',
  date: date.toISOString(),
  command,
  durationS: Math.round(elapsedS()),
  machine: mach,
  settings: { ...opts, idleCount, haproxyMaxconn: haproxyMaxconn(), hardNofile: nofile, out: undefined },
  targets: targets.map((t) => ({ name: t.name, config: t.config })),
  notes,
  summary,
  records,
};
mkdirSync(opts.out, { recursive: true });
const stamp = date.toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
const jsonPath = join(opts.out, `${opts.quick ? 'quick' : 'bench'}-${stamp}.json`);
writeFileSync(jsonPath, `${JSON.stringify(doc, null, 2)}\n`);
console.log(`results: ${jsonPath}`);
if (opts.docs && !opts.quick) {
  const md = docsPage({ doc, table: markdownTable(tests, targetNames, summary), legend, tests, jsonName: jsonPath.slice(ROOT.length + 1) });
  writeFileSync(join(ROOT, 'docs', 'benchmarks.md'), md);
  console.log('docs: docs/benchmarks.md');
} else if (!opts.quick) {
  console.log('docs: docs/benchmarks.md left as it was (a partial run; --docs to rewrite it anyway)');
}

await stopAll();
if (errors.length === 0 && !notes.some((n) => n.includes(dir))) rmSync(dir, { recursive: true, force: true });
else console.log(`configs and logs kept in ${dir}`);
process.exit(0);
