// Results → medians, ratios to direct, one console table, the JSON document and the docs
// page (docs/benchmarks.md). Pure formatting over the records the harness collected.
import { cpus, totalmem, release, loadavg } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { versionOf } from './tools.mjs';
import { ROOT } from './targets.mjs';

export function median(xs) {
  const s = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Number with a unit-appropriate precision; rates above 10k as "54.8k". */
export function fmt(v, digits) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (digits === 'k') return v >= 10000 ? `${(v / 1000).toFixed(1)}k` : `${Math.round(v)}`;
  return v.toFixed(digits);
}

/**
 * Per metric and target: median over the runs, ratio to direct's median, the runs' 1-minute
 * load averages and foreign CPU, and whether any run counted was taken under load.
 */
export function summarize(tests, targetNames, records) {
  const summary = {};
  for (const test of tests) {
    for (const m of test.metrics) {
      const id = `${test.id}.${m.key}`;
      const row = {};
      for (const t of targetNames) {
        const recs = records.filter((r) => r.test === test.id && r.target === t && r.values && r.values[m.key] !== null && r.values[m.key] !== undefined);
        if (recs.length === 0) continue;
        row[t] = {
          median: median(recs.map((r) => r.values[m.key])),
          runs: recs.map((r) => r.values[m.key]),
          load1: recs.map((r) => r.load1),
          otherCores: recs.map((r) => r.otherCores),
          loaded: recs.some((r) => r.loaded),
        };
      }
      const direct = row.direct?.median;
      for (const t of Object.keys(row)) row[t].ratio = !m.proxyOnly && direct ? row[t].median / direct : null;
      summary[id] = row;
    }
  }
  return summary;
}

function cell(m, c) {
  if (!c) return m.proxyOnly ? '' : 'n/a';
  const ratio = c.ratio !== null && c.ratio !== undefined ? ` ×${c.ratio.toFixed(2)}` : '';
  return `${fmt(c.median, m.digits)}${ratio}${c.loaded ? ' !' : ''}`;
}

function range(xs, digits = 1) {
  const s = xs.filter(Number.isFinite);
  if (s.length === 0) return '—';
  const lo = Math.min(...s).toFixed(digits);
  const hi = Math.max(...s).toFixed(digits);
  return lo === hi ? lo : `${lo}–${hi}`;
}

/** Rows: [label, cells per target, load1 range, other-cores max] for the table-worthy metrics. */
function rows(tests, targetNames, summary) {
  const out = [];
  for (const test of tests) {
    for (const m of test.metrics) {
      if (m.table === false) continue;
      const s = summary[`${test.id}.${m.key}`];
      if (!s || Object.keys(s).length === 0) continue;
      const all = Object.values(s);
      out.push([
        `${m.label} (${m.unit})`,
        ...targetNames.map((t) => (t === 'direct' && m.proxyOnly ? '—' : cell(m, s[t]))),
        range(all.flatMap((c) => c.load1)),
        range(all.flatMap((c) => c.otherCores)),
      ]);
    }
  }
  return out;
}

export function textTable(tests, targetNames, summary) {
  const head = ['metric', ...targetNames, 'load1', 'others'];
  const body = rows(tests, targetNames, summary);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(line)].join('\n');
}

export function markdownTable(tests, targetNames, summary) {
  const head = ['metric', ...targetNames, 'load1', 'other cores'];
  const body = rows(tests, targetNames, summary);
  return [
    `| ${head.join(' | ')} |`,
    `| --- | ${head.slice(1).map(() => '---:').join(' | ')} |`,
    ...body.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

function git(args) {
  const r = spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** What the numbers were taken on: CPU, cores, memory, kernel, OS, Node, tool versions, lb commit. */
export function machine(toolNames) {
  let os = null;
  try {
    os = /PRETTY_NAME="?([^"\n]+)"?/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? null;
  } catch {
    /* not Linux-like */
  }
  const dirty = git(['status', '--porcelain', '--', 'src']);
  const tools = {};
  for (const n of toolNames) tools[n] = versionOf(n);
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    kernel: release(),
    os,
    node: process.version,
    lbVersion: JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')).version,
    lbCommit: git(['rev-parse', '--short', 'HEAD']),
    lbSrcUncommitted: dirty === null ? null : dirty.length > 0,
    // The `lb` target (datapath = "auto") runs native where `npm ci` built the addons.
    lbUdpBatch: existsSync(path.join(ROOT, 'build', 'Release', 'udp_batch.node')),
    lbTcpRelay: existsSync(path.join(ROOT, 'build', 'Release', 'tcp_relay.node')),
    loadAtStart: loadavg(),
    tools,
  };
}
