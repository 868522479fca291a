#!/usr/bin/env node
// Memory stays flat while 1 GB flows from a fast backend through lb to a slow reader:
// samples lb's RSS (from /proc) every 250 ms while the client reads at a capped rate.
// Usage: node scripts/slow-reader-memory.mjs [--mb 1024] [--rate-mbps 200]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (n, d) => (process.argv.includes(`--${n}`) ? process.argv[process.argv.indexOf(`--${n}`) + 1] : d);
const TOTAL = Number(arg('mb', 1024)) * 1024 * 1024;
const RATE = Number(arg('rate-mbps', 200)) * 1024 * 1024; // bytes/s the reader accepts

const chunk = Buffer.alloc(64 * 1024, 0x61);
const backend = net.createServer((s) => {
  let sent = 0;
  const pump = () => {
    while (sent < TOTAL) {
      sent += chunk.length;
      if (!s.write(chunk)) return s.once('drain', pump);
    }
    s.end();
  };
  s.on('error', () => {});
  pump();
}).listen(0, '127.0.0.1');
await once(backend, 'listening');

const dir = mkdtempSync(join(tmpdir(), 'lb-mem-'));
const lbPort = await new Promise((r) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });
writeFileSync(join(dir, 'lb.toml'), `[global]\nlog_level = "warn"\n[listeners.m]\nbind = "127.0.0.1:${lbPort}"\npool = "m"\n[pools.m]\nbackends = [{ address = "127.0.0.1:${backend.address().port}" }]\n`);
const lb = spawn(process.execPath, [join(root, 'bin', 'lb'), 'run', '-c', join(dir, 'lb.toml')], { stdio: 'ignore' });
process.on('exit', () => lb.kill('SIGKILL'));
for (;;) {
  const ok = await new Promise((r) => { const s = net.connect(lbPort, '127.0.0.1'); s.on('connect', () => (s.destroy(), r(true))); s.on('error', () => r(false)); });
  if (ok) break;
  await new Promise((r) => setTimeout(r, 25));
}
const rssKiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${lb.pid}/status`, 'utf8'))[1]);
const samples = [];
const t0 = performance.now();
const client = net.connect(lbPort, '127.0.0.1');
let got = 0;
client.on('data', (d) => {
  got += d.length;
  // Cap the read rate: pause until the budget for the elapsed time catches up.
  const ahead = got / RATE - (performance.now() - t0) / 1000;
  if (ahead > 0.001) {
    client.pause();
    setTimeout(() => client.resume(), ahead * 1000);
  }
});
const sampler = setInterval(() => samples.push(rssKiB()), 250);
await once(client, 'end');
clearInterval(sampler);
const secs = (performance.now() - t0) / 1000;
samples.sort((a, b) => a - b);
console.log(`moved ${(got / 1048576).toFixed(0)} MiB to a reader capped at ${RATE / 1048576} MiB/s in ${secs.toFixed(1)} s`);
console.log(`lb RSS over ${samples.length} samples: min ${(samples[0] / 1024).toFixed(1)} MiB, median ${(samples[samples.length >> 1] / 1024).toFixed(1)} MiB, max ${(samples[samples.length - 1] / 1024).toFixed(1)} MiB`);
process.exit(got === TOTAL ? 0 : 1);
