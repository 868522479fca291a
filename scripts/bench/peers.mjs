#!/usr/bin/env node
// Loopback backends for the benchmarks, in their own process (own fd budget, own CPU time):
//  - echo: writes back what it reads (pipe: backpressure; ends after the client does);
//  - sink: discards what it reads and, when the client half-closes, answers with the byte
//    count as decimal text and a newline, then ends (lets a bulk client time bytes delivered).
// Prints {"echo":PORT,"sink":PORT} once both listen. Commands on stdin, one per line:
//   drop  → close every echo connection from this side, answer "dropped N" (the backend
//           closes first, so TIME_WAIT lands on its listening port, not on an ephemeral one).
// Exits when stdin closes. Usage: node scripts/bench/peers.mjs
import net from 'node:net';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

const echoSockets = new Set();
const echo = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
  s.on('error', () => s.destroy());
  echoSockets.add(s);
  s.on('close', () => echoSockets.delete(s));
  s.pipe(s);
});
const sink = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
  let bytes = 0;
  s.on('error', () => s.destroy());
  s.on('data', (d) => (bytes += d.length));
  s.on('end', () => s.end(`${bytes}\n`));
});
echo.on('error', (e) => (console.error(`peers: echo: ${e.message}`), process.exit(1)));
sink.on('error', (e) => (console.error(`peers: sink: ${e.message}`), process.exit(1)));
echo.listen({ port: 0, host: '127.0.0.1', backlog: 4096 });
sink.listen({ port: 0, host: '127.0.0.1', backlog: 4096 });
await Promise.all([once(echo, 'listening'), once(sink, 'listening')]);
process.stdout.write(`${JSON.stringify({ echo: echo.address().port, sink: sink.address().port })}\n`);

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (line.trim() === 'drop') {
    const n = echoSockets.size;
    for (const s of echoSockets) s.destroy();
    process.stdout.write(`dropped ${n}\n`);
  }
});
rl.on('close', () => process.exit(0));
