// One measurement against one target, each bounded in time (the client is killed after its
// limit) and returning plain numbers keyed by metric name, or throwing with the tool's words.
// Full run: iperf3, redis-benchmark, sockperf, and a held-connections client for memory.
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, start, treeCpuSeconds, treeRssKiB, lineWaiter, stop, sleep } from './proc.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const GB = 1e9; // CPU seconds per GB: decimal gigabytes of payload

function fail(tool, r) {
  const why = r.timedOut ? `timed out after ${(r.ms / 1000).toFixed(0)} s` : `exit ${r.code}`;
  const text = `${r.stderr}\n${r.stdout}`.trim().split('\n').slice(-3).join(' | ');
  return new Error(`${tool} ${why}: ${text.slice(0, 300)}`);
}

/**
 * TCP bulk throughput: iperf3 client → target → iperf3 server, `streams` parallel data
 * connections plus iperf3's control connection, all through the proxy; client → server only.
 * Gbit/s is payload the server received over the test; CPU s/GB is the proxy's utime+stime
 * (with descendants, i.e. an NGINX worker) over the run divided by those bytes in GB.
 */
export async function bulk(target, { streams, seconds }) {
  const cpu0 = target.pid ? treeCpuSeconds(target.pid) : 0;
  const r = await run('iperf3', ['-c', '127.0.0.1', '-p', String(target.ports.iperf), '-t', String(seconds), '-P', String(streams), '-J', '--connect-timeout', '3000'], { timeoutMs: (seconds + 20) * 1000 });
  const cpu = target.pid ? treeCpuSeconds(target.pid) - cpu0 : null;
  let j;
  try {
    j = JSON.parse(r.stdout);
  } catch {
    throw fail('iperf3', r);
  }
  if (j.error || !j.end?.sum_received) throw new Error(`iperf3: ${j.error ?? 'no summary'}`);
  const { bytes, seconds: secs } = j.end.sum_received;
  return { gbps: (bytes * 8) / secs / 1e9, bytes, cpuSecPerGB: cpu === null ? null : cpu / (bytes / GB) };
}

/** redis-benchmark --csv rows: test → { rps, p50, p99 } (latencies in ms). */
function redisCsv(stdout) {
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const out = {};
  for (const line of stdout.trim().split('\n').slice(1)) {
    const c = line.replace(/"/g, '').split(',');
    if (c.length >= 7) out[c[0]] = { rps: Number(c[1]), p50: Number(c[4]), p99: Number(c[6]) };
  }
  return out;
}

/**
 * Request/response over persistent connections: redis-benchmark SET then GET, `clients`
 * connections kept open, `requests` per command, one request in flight per connection.
 */
export async function redisKeepalive(target, { requests, clients }) {
  const r = await run('redis-benchmark', ['-h', '127.0.0.1', '-p', String(target.ports.redis), '-n', String(requests), '-c', String(clients), '-t', 'set,get', '--csv'], { timeoutMs: 90_000 });
  const rows = redisCsv(r.stdout);
  if (r.code !== 0 || !rows.SET || !rows.GET) throw fail('redis-benchmark', r);
  return {
    setRps: rows.SET.rps, setP50: rows.SET.p50, setP99: rows.SET.p99,
    getRps: rows.GET.rps, getP50: rows.GET.p50, getP99: rows.GET.p99,
  };
}

/**
 * New connections per second: redis-benchmark -k 0 (keepalive off) runs GET with `clients`
 * concurrent clients, each opening a fresh TCP connection for every request and closing it
 * after the reply. Each request is connect + GET + reply + close, so req/s = connections/s.
 */
export async function connRate(target, { requests, clients }) {
  const r = await run('redis-benchmark', ['-h', '127.0.0.1', '-p', String(target.ports.redis), '-n', String(requests), '-c', String(clients), '-k', '0', '-t', 'get', '--csv'], { timeoutMs: 90_000 });
  const rows = redisCsv(r.stdout);
  if (r.code !== 0 || !rows.GET) throw fail('redis-benchmark -k 0', r);
  return { connPerSec: rows.GET.rps, connP50: rows.GET.p50, connP99: rows.GET.p99 };
}

/**
 * UDP: sockperf ping-pong (one datagram in flight; p50/p99 round trip in µs), then sockperf
 * under-load at --mps=max with a reply to every datagram (replies received per second).
 * One client address, so one proxy session.
 */
export async function udp(target, { seconds }) {
  const base = ['-i', '127.0.0.1', '-p', String(target.ports.udp), '-t', String(seconds)];
  const pp = await run('sockperf', ['ping-pong', ...base], { timeoutMs: (seconds + 15) * 1000 });
  const ppOut = pp.stdout + pp.stderr;
  const pct = (p) => Number(new RegExp(`percentile ${p} =\\s+([\\d.]+)`).exec(ppOut)?.[1]);
  const p50 = pct('50.000');
  const p99 = pct('99.000');
  if (pp.code !== 0 || !Number.isFinite(p50)) throw fail('sockperf ping-pong', pp);
  const ul = await run('sockperf', ['under-load', ...base, '--mps=max', '--reply-every=1'], { timeoutMs: (seconds + 15) * 1000 });
  // The valid part excludes sockperf's 400 ms warm-up; a run too short for one falls back to the total.
  const ulOut = ul.stdout + ul.stderr;
  const m = /\[Valid Duration\] RunTime=([\d.]+) sec; SentMessages=(\d+); ReceivedMessages=(\d+)/.exec(ulOut) ??
    /\[Total Run\] RunTime=([\d.]+) sec;[^;]*; SentMessages=(\d+); ReceivedMessages=(\d+)/.exec(ulOut);
  if (ul.code !== 0 || !m) throw fail('sockperf under-load', ul);
  return { udpRps: Number(m[3]) / Number(m[1]), udpSentPerSec: Number(m[2]) / Number(m[1]), udpP50: p50, udpP99: p99 };
}

/**
 * Memory per idle connection: VmRSS of the proxy (with descendants) before, and after
 * `count` client connections are open through it to the echo backend (each has carried one
 * byte each way, so the upstream connection exists), settled for 1 s; (after − before) / count.
 * Teardown: the echo backend closes its side, so TIME_WAIT lands on listening ports.
 */
export async function idleMemory(target, { count, peers, dir }) {
  const before = treeRssKiB(target.pid);
  const args = [join(HERE, 'idle-client.mjs'), String(target.ports.echo), String(count), '200', '90'];
  const child = start('idle-client', process.execPath, args, { stdin: 'pipe', stdout: 'pipe', log: join(dir, 'idle-client.log') });
  const lines = lineWaiter(child.stdout);
  try {
    const ready = await lines.wait(/^(ready|failed)/, 100_000);
    if (!ready?.startsWith('ready')) throw new Error(`idle client: ${ready ?? 'no answer'}`);
    await sleep(1000);
    const after = treeRssKiB(target.pid);
    peers.send('drop');
    await peers.wait(/^dropped/, 10_000);
    const closed = await lines.wait(/^closed/, 30_000);
    if (!closed) child.stdin.write('close\n');
    return { kibPerConn: (after - before) / count, rssBeforeKiB: before, rssAfterKiB: after };
  } finally {
    await stop(child, 5000);
  }
}
