// Node clients for `bench --quick` (no external tools needed), run in the harness process
// against the peers' echo and sink (scripts/bench/peers.mjs), directly or through a target.
// Each stops at its deadline, so a run is bounded by `seconds` plus one round trip.
import net from 'node:net';
import { once } from 'node:events';
import { treeCpuSeconds } from './proc.mjs';

const GB = 1e9;

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Request/response over persistent connections: `connections` sockets to the echo, each with
 * one `size`-byte request in flight; a request is done when all its bytes are back.
 * Returns requests/s and p50/p99 round trip in ms.
 */
export async function requestResponse(port, { seconds, connections = 16, size = 64 }) {
  const payload = Buffer.alloc(size, 0x61);
  const lat = [];
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: connections }, () => new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
      let got = 0;
      let sentAt = 0;
      const send = () => {
        if (performance.now() >= deadline) return void s.end();
        got = 0;
        sentAt = performance.now();
        s.write(payload);
      };
      s.on('error', reject);
      s.on('connect', send);
      s.on('data', (d) => {
        got += d.length;
        if (got < size) return;
        const now = performance.now();
        if (now <= deadline) {
          done++;
          lat.push(now - sentAt);
        }
        send();
      });
      s.on('close', resolve);
    })),
  );
  lat.sort((a, b) => a - b);
  return { rrRps: done / seconds, rrP50: percentile(lat, 50), rrP99: percentile(lat, 99) };
}

/**
 * New connections per second: `parallel` loops, each opening a fresh connection, writing
 * 16 bytes, waiting for their echo, ending, and waiting for 'close' (the far end's FIN came
 * back) before the next. A connection counts when it closed cleanly before the deadline.
 */
export async function connectionRate(port, { seconds, parallel = 16 }) {
  const payload = Buffer.alloc(16, 0x62);
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  let done = 0;
  let errors = 0;
  const lat = [];
  const one = () => new Promise((resolve) => {
    const started = performance.now();
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
    let got = 0;
    let failed = false;
    s.on('error', () => (failed = true));
    s.on('connect', () => s.write(payload));
    s.on('data', (d) => {
      got += d.length;
      if (got >= payload.length) s.end();
    });
    s.on('close', () => {
      const now = performance.now();
      if (failed || got < payload.length) errors++;
      else if (now <= deadline) {
        done++;
        lat.push(now - started);
      }
      resolve();
    });
  });
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (performance.now() < deadline && errors < 1000) await one();
    }),
  );
  lat.sort((a, b) => a - b);
  return { connPerSec: done / seconds, connP50: percentile(lat, 50), connP99: percentile(lat, 99), connErrors: errors };
}

/**
 * Bulk: one connection to the sink, 64 KiB writes with backpressure until the deadline, then
 * a half-close; the sink answers with the bytes it received. Gbit/s = those bytes over the
 * time until the answer; CPU s/GB = the proxy's CPU (pid, with descendants) over the same span.
 */
export async function bulk(port, { seconds, pid }) {
  const chunk = Buffer.alloc(64 * 1024, 0x63);
  const cpu0 = pid ? treeCpuSeconds(pid) : 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const s = net.connect({ port, host: '127.0.0.1' });
  s.on('error', () => {}); // the awaited once() calls below reject on 'error'
  s.setEncoding('utf8');
  let reply = '';
  s.on('data', (d) => (reply += d));
  await once(s, 'connect');
  await new Promise((resolve, reject) => {
    s.once('error', reject);
    const pump = () => {
      while (performance.now() < deadline) if (!s.write(chunk)) return void s.once('drain', pump);
      s.end();
      resolve();
    };
    pump();
  });
  await once(s, 'end');
  const secs = (performance.now() - t0) / 1000;
  const bytes = Number(reply.trim());
  if (!Number.isFinite(bytes) || bytes <= 0) throw new Error(`sink answered ${JSON.stringify(reply)}`);
  const cpu = pid ? treeCpuSeconds(pid) - cpu0 : null;
  return { gbps: (bytes * 8) / secs / 1e9, cpuSecPerGB: cpu === null ? null : cpu / (bytes / GB) };
}
