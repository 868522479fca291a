// `lb status [--admin HOST:PORT]`: GET /status from the admin API and print it as tables.
// Exit 0, or 1 when the admin API cannot be reached or answers with an error.
import http from 'node:http';
import type { StatusDoc } from '../admin/status.js';
import { renderTable, formatBytes } from './format.js';

export async function statusCommand(opts: { admin: string }): Promise<number> {
  let host: string;
  let port: number;
  try {
    ({ host, port } = splitHostPort(opts.admin));
  } catch (err) {
    process.stderr.write(`lb status: ${(err as Error).message}\n`);
    return 2;
  }
  let doc: StatusDoc;
  try {
    doc = JSON.parse(await get(host, port, '/status')) as StatusDoc;
  } catch (err) {
    process.stderr.write(`lb status: cannot read http://${opts.admin}/status: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(renderStatus(doc));
  return 0;
}

export function renderStatus(doc: StatusDoc): string {
  const out: string[] = [];
  const workers = (doc.workers ?? 1) > 1 ? `  workers ${doc.workers}` : '';
  out.push(`lb ${doc.version}  pid ${doc.pid}${workers}  up ${formatUptime(doc.uptime_s)}  config ${doc.config}  ` +
    `reloads ${doc.reloads.applied} applied, ${doc.reloads.rejected} rejected  active ${doc.active}`);
  out.push('');
  out.push(renderTable(
    ['listener', 'protocol', 'bind', 'pool', 'active', 'total', 'bytes in', 'bytes out'],
    doc.listeners.map((l) => [l.name, l.protocol, l.bind, l.pool, l.active, l.total, formatBytes(l.bytes_in), formatBytes(l.bytes_out)]),
  ));
  for (const p of doc.pools) {
    out.push('');
    out.push(`pool ${p.name} (${p.algorithm}${p.health ? ', health checked' : ''}): ${p.up} of ${p.backends.length} up`);
    out.push(renderTable(
      ['backend', 'state', 'weight', 'util', 'active', 'total', 'bytes in', 'bytes out', 'last check'],
      p.backends.map((b) => [
        b.address + (b.removed ? ' (removed)' : ''),
        b.state + (b.agent_state !== undefined && b.agent_state !== 'ready' ? ` (agent ${b.agent_state})` : ''),
        b.effective_weight === undefined || b.effective_weight === b.weight ? b.weight : `${b.weight}→${Number(b.effective_weight.toFixed(2))}`,
        b.utilization === null || b.utilization === undefined ? '-' : `${Math.round(b.utilization * 100)}%`,
        b.active,
        b.total,
        formatBytes(b.bytes_in),
        formatBytes(b.bytes_out),
        b.last_check === null ? '-' : `${checkText(b.last_check)} ${b.last_check.duration_ms}ms ${ago(b.last_check.at)}`,
      ]),
    ));
  }
  return out.join('\n') + '\n';
}

/** "ok", "FAIL ECONNREFUSED", or "LOCAL EMFILE" for a probe that failed on lb's own resources. */
function checkText(c: NonNullable<StatusDoc['pools'][number]['backends'][number]['last_check']>): string {
  if (c.ok) return 'ok';
  return `${c.result === 'local_error' ? 'LOCAL' : 'FAIL'} ${c.detail}`;
}

function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return `${s}s ago`;
}

function formatUptime(s: number): string {
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${m}m` : m > 0 ? `${m}m${s % 60}s` : `${s}s`;
}

function splitHostPort(text: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]*):(\d+)$/.exec(text);
  if (m === null) throw new Error(`--admin: expected HOST:PORT or [IPv6]:PORT (got "${text}")`);
  return { host: m[1] === '' ? '127.0.0.1' : m[1]!, port: Number(m[2]) };
}

function get(host: string, port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}
