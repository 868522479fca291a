// Run by prober.test.ts in a child process under `ulimit -n`: a real prober and real probes
// while every descriptor of the process is taken, so that socket() fails with EMFILE. argv[2]:
// the port of the parent's backend (accepts, then closes). Prints one JSON line of
// observations on stdout (after the descriptors are given back).
// Not a test file itself (tap runs *.test.ts only).
import fs from 'node:fs';
import { parseConfigText } from '../../src/config/load.js';
import { Pool } from '../../src/pool/pool.js';
import { Prober, tcpBackendProbe } from '../../src/health/prober.js';
import { tcpProbe, type ProbeResult } from '../../src/health/probe.js';
import { udpProbe } from '../../src/health/udp-probe.js';
import { localErrors } from '../../src/local-errors.js';
import { LogCapture } from '../support/log-capture.js';

// The backend is the parent's (a server here would free descriptors as it accepts and closes).
const port = Number(process.argv[2]);

const loaded = parseConfigText(
  `[listeners.front]\nbind = "127.0.0.1:0"\npool = "p"\n[pools.p]\nbackends = [{ address = "127.0.0.1:${port}" }]\n` +
    '[pools.p.health]\ninterval = "20ms"\ntimeout = "1s"\nrise = 2\nfall = 1\n',
  'child.toml',
);
if (!loaded.ok) throw new Error('bad config');
const logs = new LogCapture();
const pool = new Pool(loaded.config.pools[0]!, logs.logger('info'), 1000);
const b = pool.backends[0]!;

// Each probe's result, handed to whoever waits for it once the prober has applied it (the
// prober applies a result in the turn its probe resolves; setImmediate runs after that).
let clock = 0;
let waiting: ((r: ProbeResult) => void) | null = null;
const next = (): Promise<ProbeResult> => new Promise((resolve) => (waiting = resolve));
const prober = new Prober(loaded.config.pools[0]!.health!, pool, {
  now: () => clock,
  probe: async (backend, cfg, signal) => {
    const r = await tcpBackendProbe(backend, cfg, signal);
    const w = waiting;
    waiting = null;
    if (w !== null) setImmediate(() => w(r));
    return r;
  },
});
pool.passiveHealth = prober;

const snap = (): Record<string, unknown> => ({ state: b.state, passed: b.checksPassed, failed: b.checksFailed, lastCheck: b.lastCheck });
const out: Record<string, unknown> = {};

let r = next();
prober.sync();
out['first'] = { result: await r, ...snap() };

// Take every descriptor left.
const held: number[] = [];
try {
  for (;;) held.push(fs.openSync('/dev/null', 'r'));
} catch (err) {
  out['fill'] = (err as NodeJS.ErrnoException).code;
}
const emfileBefore = localErrors.get('EMFILE') ?? 0;
const results: ProbeResult[] = [];
for (let i = 0; i < 3; i++) {
  r = next();
  results.push(await r);
}
const warnsAtSameTime = logs.matching({ msg: "health check failed on lb's own resources; not counted against the backend" }).length;
clock += 1000;
r = next();
results.push(await r);
const warns = logs.matching({ msg: "health check failed on lb's own resources; not counted against the backend" });
pool.reportConnectFailure(b, 'EMFILE');
out['local'] = { results, ...snap(), warnsAtSameTime, warns, counted: (localErrors.get('EMFILE') ?? 0) - emfileBefore, connectFailures: b.connectFailures };
// The probe functions themselves, in the same state.
const target = { host: '127.0.0.1', port, timeoutMs: 1000, send: Buffer.from('x'), expect: Buffer.from('y') };
out['tcpProbe'] = await tcpProbe(target);
out['udpProbe'] = await udpProbe(target);

const fill = (): void => {
  try {
    for (;;) held.push(fs.openSync('/dev/null', 'r'));
  } catch {
    // EMFILE: every descriptor taken
  }
};
const release = (): void => {
  for (const fd of held.splice(0)) fs.closeSync(fd);
};
release();
r = next();
out['after'] = { result: await r, ...snap(), upLines: logs.matching({ msg: 'backend up' }).length };

// Up now, with fall = 1: a failure that counted would take it down at once.
fill();
const upResults: ProbeResult[] = [];
for (let i = 0; i < 2; i++) {
  r = next();
  upResults.push(await r);
}
out['whileUp'] = { results: upResults, ...snap(), downLines: logs.matching({ msg: 'backend down' }).length };
release();
prober.stop();
pool.stop();
process.stdout.write(JSON.stringify(out) + '\n');
