#!/usr/bin/env node
// Folded into scripts/bench.mjs (issue #6); kept as a shortcut for its UDP part: sockperf
// replies/s (under-load, --mps=max) and ping-pong p50/p99, direct vs lb vs NGINX stream,
// medians of interleaved runs. Options go to bench.mjs (see `node scripts/bench.mjs --help`);
// docs/benchmarks.md is left alone.
// Usage: node scripts/bench-udp.mjs [--runs 3] [--seconds 3]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bench = fileURLToPath(new URL('./bench.mjs', import.meta.url));
const r = spawnSync(process.execPath, [bench, '--tests', 'udp', '--targets', 'direct,lb,nginx', '--no-docs', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
