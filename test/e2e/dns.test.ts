// A real UDP client/server pair nobody here wrote: dig and dnsperf against dnsmasq, through
// `lb run`, on loopback. The pool's health check is a real DNS query written with escapes
// in a TOML literal string, and passes only on a reply carrying the query's ID.
// Skips when Debian's dnsmasq, dig (dnsutils) or dnsperf are not installed.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/redis.js';
import { spawnLb, writeConfig } from '../support/lb-process.js';

const have = (cmd: string, args: string[]): boolean => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;

async function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const [code] = (await once(child, 'exit')) as [number];
  return { code, out };
}

if (!have('dnsmasq', ['--version']) || !have('dig', ['-v']) || !have('dnsperf', ['-h'])) {
  t.skip('dnsmasq, dig or dnsperf not installed (apt-get install dnsmasq-base dnsutils dnsperf)', () => {});
} else {
  t.test('dig and dnsperf through lb to dnsmasq: answers right, nothing lost', async (t) => {
    const dnsPort = await freePort();
    const dnsmasq = spawn('dnsmasq', [
      '--keep-in-foreground', `--port=${dnsPort}`, '--listen-address=127.0.0.1', '--bind-interfaces',
      '--no-resolv', '--no-hosts', '--conf-file=/dev/null', '--address=/test.lb/10.1.2.3',
      '--user=root', '--pid-file=', '--cache-size=0',
    ], { stdio: 'ignore' });
    t.teardown(async () => {
      const exited = once(dnsmasq, 'exit');
      dnsmasq.kill('SIGTERM');
      await exited;
    });
    // ID 0x1234, RD, one question: test.lb A IN.
    const query = String.raw`\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04test\x02lb\x00\x00\x01\x00\x01`;
    const lb = spawnLb(t, ['run', '-c', writeConfig(`[global]
drain_timeout = "1s"
[listeners.dns]
protocol = "udp"
bind = "127.0.0.1:0"
pool = "dns"
session_timeout = "5s"
[pools.dns]
backends = [{ address = "127.0.0.1:${dnsPort}" }]
[pools.dns.health]
interval = "100ms"
timeout = "500ms"
rise = 1
send = '${query}'
expect = '${String.raw`\x12\x34`}'
`)]);
    const port = await lb.port('dns');
    await lb.logs.waitFor({ msg: 'backend up' });
    const dig = await run('dig', ['@127.0.0.1', '-p', String(port), 'test.lb', 'A', '+short', '+tries=1', '+time=2']);
    t.equal(dig.code, 0, dig.out);
    t.equal(dig.out.trim(), '10.1.2.3');
    const dir = mkdtempSync(join(tmpdir(), 'lb-dns-'));
    writeFileSync(join(dir, 'queries'), 'test.lb A\nwww.test.lb A\nx.test.lb A\n');
    const perf = await run('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', join(dir, 'queries'), '-l', '2', '-Q', '1000', '-c', '4', '-t', '2']);
    if (perf.code !== 0) t.comment(perf.out);
    t.equal(perf.code, 0, 'dnsperf exit 0');
    const sent = Number(/Queries sent:\s+(\d+)/.exec(perf.out)?.[1]);
    const lost = Number(/Queries lost:\s+(\d+)/.exec(perf.out)?.[1]);
    t.ok(sent >= 1000, `${sent} queries sent`);
    t.equal(lost, 0, 'no query lost');
    t.comment(perf.out.split('\n').filter((l) => /Queries (sent|completed|lost)|Average Latency/.test(l)).join(' | '));
    lb.child.kill('SIGTERM');
    t.equal(await lb.exited, 0);
    const sessions = lb.logs.matching({ msg: 'session ended' });
    t.ok(sessions.length >= 5, `${sessions.length} UDP sessions logged (dig + dnsperf clients)`);
    t.ok(sessions.every((s) => s.end === 'shutdown' || s.end === 'idle_timeout'));
  });
}
