#!/usr/bin/env node
// Folded into scripts/bench.mjs (issue #6); kept as a shortcut for its redis part:
// redis-benchmark over persistent connections (req/s, p50/p99) and with -k 0 (new
// connections/s), direct vs lb vs HAProxy, medians of interleaved runs. Options go to
// bench.mjs (see `node scripts/bench.mjs --help`); docs/benchmarks.md is left alone.
// Usage: node scripts/bench-redis.mjs [--runs 3] [--requests 50000] [--clients 50] [--algorithm round-robin]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bench = fileURLToPath(new URL('./bench.mjs', import.meta.url));
const r = spawnSync(process.execPath, [bench, '--tests', 'rr,conn', '--targets', 'direct,lb,haproxy', '--no-docs', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
