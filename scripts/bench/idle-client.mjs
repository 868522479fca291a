#!/usr/bin/env node
// Holds COUNT idle TCP connections to 127.0.0.1:PORT. Each connection sends one byte and waits
// for its echo, so the proxy's upstream connection is known to exist; then it stays idle.
// Prints "ready N" when all are up, then "closed N" once the far end has closed them all (or
// stdin says "close", which destroys them from this side). At most PARALLEL connects are in
// flight, so no listen backlog overflows. Bounded: gives up ("failed ...", exit 2) after
// 100 failed connections or TIMEOUT_S seconds.
// Usage: node scripts/bench/idle-client.mjs PORT COUNT [PARALLEL=200] [TIMEOUT_S=60]
import net from 'node:net';
import { createInterface } from 'node:readline';

const [port, count, parallel = 200, timeoutS = 60] = process.argv.slice(2).map(Number);
const held = [];
let started = 0;
let ready = 0;
let failed = 0;
let closed = 0;
let allReady = false;

const deadline = setTimeout(() => {
  process.stdout.write(`failed timeout ready=${ready} failed=${failed} closed=${closed}\n`);
  process.exit(2);
}, timeoutS * 1000);

function openOne() {
  started++;
  const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
  let isReady = false;
  held.push(s);
  s.on('error', () => {});
  s.once('connect', () => s.write('x'));
  s.once('data', () => {
    isReady = true;
    ready++;
    if (started < count) openOne();
    else if (ready === count) {
      allReady = true;
      process.stdout.write(`ready ${ready}\n`);
    }
  });
  s.on('close', () => {
    closed++;
    if (!isReady) {
      if (++failed > 100) {
        process.stdout.write(`failed connections=${failed} ready=${ready}\n`);
        process.exit(2);
      }
      started--;
      openOne(); // replace it: the count stays exact
    } else if (allReady && closed - failed === count) {
      process.stdout.write(`closed ${count}\n`);
      clearTimeout(deadline);
      process.exit(0);
    }
  });
}
for (let i = 0; i < Math.min(parallel, count); i++) openOne();

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'close') {
    for (const s of held) s.destroy();
    process.stdout.write(`closed ${count}\n`);
    process.exit(0);
  }
}).on('close', () => process.exit(0)); // the harness went away
