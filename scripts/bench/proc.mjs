// Child processes and /proc readings for the benchmarks. Every process the harness starts is
// registered here and killed by PID, together with its descendants (an NGINX master's worker),
// at exit, on SIGINT/SIGTERM and on a crash. Loopback only: every address is 127.0.0.1.
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, openSync, closeSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import dgram from 'node:dgram';

/** Clock ticks per second of /proc/PID/stat utime/stime and /proc/stat (USER_HZ, usually 100). */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

const live = new Map(); // pid → { child, name }

// ---------------------------------------------------------------------------------------------
// /proc readers. Each returns null (or 0 in sums) for a process that has gone away.

/** Fields of /proc/PID/stat after the "(comm)" part, which may itself hold spaces. */
function statFields(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Direct children of pid: the kernel's list when it has one, else a scan of /proc. */
export function childrenOf(pid) {
  try {
    const t = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return t ? t.split(' ').map(Number) : [];
  } catch {
    const out = [];
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      const f = statFields(d);
      if (f && Number(f[1]) === pid) out.push(Number(d));
    }
    return out;
  }
}

/** pid and every live descendant, parents first. */
export function tree(pid) {
  const out = [pid];
  for (let i = 0; i < out.length && out.length < 10000; i++) out.push(...childrenOf(out[i]));
  return out;
}

/** utime+stime of one process in ticks; with `reaped`, also the waited-for children's (cutime+cstime). */
function ticksOf(pid, reaped) {
  const f = statFields(pid);
  if (!f) return 0;
  // after "(comm) ": [0]=state [1]=ppid … [11]=utime [12]=stime [13]=cutime [14]=cstime
  return Number(f[11]) + Number(f[12]) + (reaped ? Number(f[13]) + Number(f[14]) : 0);
}

/** CPU seconds used so far by pid and its live descendants (an NGINX master plus its worker). */
export function treeCpuSeconds(pid) {
  let t = 0;
  for (const p of tree(pid)) t += ticksOf(p, false);
  return t / CLK_TCK;
}

/** VmRSS in KiB summed over pid and its live descendants. */
export function treeRssKiB(pid) {
  let kib = 0;
  for (const p of tree(pid)) {
    try {
      kib += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      /* gone */
    }
  }
  return kib;
}

/** The hard RLIMIT_NOFILE of this process (Node raised its soft limit to it at start-up). */
export function hardNofile() {
  try {
    const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m[2] === 'unlimited' ? 1 << 20 : Number(m[2]);
  } catch {
    return 1024;
  }
}

/**
 * A snapshot for telling our own CPU use from other processes'. Busy time of the whole machine
 * (/proc/stat: user+nice+system+irq+softirq; steal and iowait are not busy here) minus the
 * time of this process, its reaped children (cutime/cstime: every client tool we waited for)
 * and its live descendants (backends, proxies). Differences of two snapshots divided by the
 * wall time give "cores used by other processes" during a measurement.
 */
export function cpuSnapshot() {
  let busy = 0;
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    busy = f[0] + f[1] + f[2] + f[5] + f[6];
  } catch {
    /* no /proc/stat: foreign load reads as 0 */
  }
  let own = ticksOf(process.pid, true);
  for (const p of tree(process.pid).slice(1)) own += ticksOf(p, true);
  return { t: performance.now(), busy, own };
}

/** Cores' worth of CPU used by processes outside the harness between two snapshots. */
export function foreignCores(a, b) {
  const secs = (b.t - a.t) / 1000;
  if (secs <= 0) return 0;
  return Math.max(0, (b.busy - a.busy - (b.own - a.own)) / CLK_TCK / secs);
}

// ---------------------------------------------------------------------------------------------
// Starting and stopping.

// `ulimit -n` up to the hard limit, then exec: the PID stays the program's own.
const NOFILE_WRAPPER = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"';

/**
 * Start a long-running process. `log` names a file for its stdout+stderr (read back on failure);
 * `nofile` raises its fd limit through bash; `stdin: 'pipe'` keeps a pipe for commands.
 */
export function start(name, cmd, args, { log, nofile = false, stdin = 'ignore', stdout } = {}) {
  const fd = log ? openSync(log, 'a') : 'ignore';
  const [c, a] = nofile ? ['bash', ['-c', NOFILE_WRAPPER, cmd, ...args]] : [cmd, args];
  const child = spawn(c, a, { stdio: [stdin, stdout ?? fd, fd] });
  if (typeof fd === 'number') closeSync(fd);
  child.on('error', () => {}); // ENOENT etc.: seen as an early exit by the caller
  if (child.pid) live.set(child.pid, { child, name });
  child.on('exit', () => live.delete(child.pid));
  return child;
}

/**
 * Run a client to completion, bounded by timeoutMs (SIGKILL to it and its descendants after).
 * Resolves { code, stdout, stderr, timedOut, ms }; never rejects.
 */
export function run(cmd, args, { timeoutMs = 60000, env } = {}) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : undefined });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    if (child.pid) live.set(child.pid, { child, name: cmd });
    const timer = setTimeout(() => {
      timedOut = true;
      killTree(child.pid, 'SIGKILL');
    }, timeoutMs);
    const done = (code) => {
      clearTimeout(timer);
      live.delete(child.pid);
      resolve({ code, stdout, stderr, timedOut, ms: performance.now() - t0 });
    };
    child.on('error', (err) => done(err.code === 'ENOENT' ? 127 : 1));
    child.on('close', (code) => done(code ?? 1));
  });
}

/** Signal pid and all its descendants (collected first, so an orphaned worker is not missed). */
export function killTree(pid, signal = 'SIGKILL') {
  if (!pid) return;
  for (const p of tree(pid).reverse()) {
    try {
      process.kill(p, signal);
    } catch {
      /* already gone */
    }
  }
}

/** Stop one started process: SIGTERM, then SIGKILL to what is left after graceMs. */
export async function stop(child, graceMs = 1500) {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  const pids = tree(child.pid);
  const exited = once(child, 'exit');
  for (const p of pids) {
    try {
      process.kill(p, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  live.delete(child.pid);
}

/** Kill every process the harness started, by PID. Synchronous: safe in an 'exit' handler. */
export function killAll() {
  for (const [pid] of live) killTree(pid, 'SIGKILL');
  live.clear();
}

/** Stop every started process (SIGTERM, then SIGKILL) and wait for them, so none is left a zombie. */
export async function stopAll(graceMs = 1500) {
  await Promise.all([...live.values()].map(({ child }) => stop(child, graceMs)));
}

let installed = false;
let onSignal = () => {};
/**
 * Kill everything we started at exit, on SIGINT/SIGTERM/SIGHUP and on an uncaught error.
 * `signalHook` runs (synchronously) after the kill on a signal, e.g. to remove the work dir.
 */
export function installCleanup(signalHook) {
  if (signalHook) onSignal = signalHook;
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}: stopping ${live.size} started process(es)\n`);
      const waits = [...live.values()].map(({ child }) => once(child, 'exit').catch(() => {}));
      killAll();
      try {
        onSignal();
      } catch {
        /* best effort */
      }
      // Give libuv a moment to reap the children (no zombies left behind), then go.
      Promise.race([Promise.all(waits), sleep(500)]).then(() => process.exit(code));
    });
  }
  process.on('uncaughtException', (err) => {
    process.stderr.write(`bench: ${err?.stack ?? err}\n`);
    killAll();
    process.exit(1);
  });
}

// ---------------------------------------------------------------------------------------------
// Ports. The OS picks a free one (bind 0, close); the caller binds it soon after and retries
// with a fresh port if a client connection grabbed it in between.

export async function freeTcpPort() {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}

export async function freeUdpPort() {
  const s = dgram.createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export { sleep };

/** Resolves when 127.0.0.1:port accepts a TCP connection; false after timeoutMs or if `child` exits. */
export async function waitTcpPort(port, { child, timeoutMs = 10000 } = {}) {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) return false;
    const ok = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return true;
    await sleep(25);
  }
  return false;
}

/** True once something holds UDP 127.0.0.1:port (our own bind fails with EADDRINUSE). */
export async function waitUdpBound(port, { child, timeoutMs = 10000 } = {}) {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) return false;
    const taken = await new Promise((r) => {
      const s = dgram.createSocket('udp4');
      s.once('error', (e) => (s.close(), r(e.code === 'EADDRINUSE')));
      s.bind(port, '127.0.0.1', () => s.close(() => r(false)));
    });
    if (taken) return true;
    await sleep(25);
  }
  return false;
}

/**
 * Lines a child writes on stdout, awaited by pattern: wait(/^ready/, ms) resolves with the first
 * line (already seen or still to come) matching it, or null after ms or when the stream ends.
 */
export function lineWaiter(stream) {
  const seen = [];
  const waiters = [];
  let ended = false;
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiters.findIndex((x) => x.re.test(line));
      if (w >= 0) waiters.splice(w, 1)[0].resolve(line);
      else seen.push(line);
    }
  });
  stream.on('close', () => {
    ended = true;
    for (const w of waiters.splice(0)) w.resolve(null);
  });
  return {
    wait(re, ms) {
      const k = seen.findIndex((l) => re.test(l));
      if (k >= 0) return Promise.resolve(seen.splice(k, 1)[0]);
      if (ended) return Promise.resolve(null);
      return new Promise((resolve) => {
        const w = { re, resolve: (v) => (clearTimeout(timer), resolve(v)) };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          resolve(null);
        }, ms);
        waiters.push(w);
      });
    },
  };
}
