// Backends and the targets in front of them. A target is how a client reaches each backend:
// `direct` (the backend's own port), or through a proxy whose config is written here
// (lb, HAProxy mode tcp, NGINX stream), one worker/thread each, one listener per backend,
// no access logs, defaults elsewhere. Ports come from the OS (bind 0, close); a start that
// fails (a port taken in between) is retried with fresh ports.
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { start, stop, freeTcpPort, freeUdpPort, waitTcpPort, waitUdpBound, lineWaiter, hardNofile } from './proc.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const LB_BIN = join(ROOT, 'bin', 'lb');
const HERE = dirname(fileURLToPath(import.meta.url));

/** TCP backends a proxy forwards to (by service name) and the one UDP backend. */
export const TCP_SERVICES = ['redis', 'iperf', 'echo', 'sink'];
export const UDP_SERVICE = 'udp';

/** Connections each proxy is configured to hold (HAProxy maxconn, NGINX worker_connections, lb max_connections). */
export const PROXY_MAX_CONNECTIONS = 25000;

function tail(path, n = 15) {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Try `attempt` up to 3 times (fresh ports each time); null when it never came up. */
async function retry(name, log, attempt) {
  for (let i = 1; i <= 3; i++) {
    const r = await attempt();
    if (r) return r;
    process.stderr.write(`bench: ${name} did not start (attempt ${i}/3); log ${log}:\n${tail(log)}\n`);
  }
  return null;
}

/**
 * Start the backends this run needs. Returns { ports: {service → port}, peers } where peers
 * has send(cmd) / wait(re, ms) for the Node echo/sink process. Missing tools leave a service out.
 */
export async function startBackends(dir, have) {
  const ports = {};
  const log = join(dir, 'backends.log');

  const peersChild = start('peers', process.execPath, [join(HERE, 'peers.mjs')], { log, stdin: 'pipe', stdout: 'pipe' });
  const lines = lineWaiter(peersChild.stdout);
  const hello = await lines.wait(/^\{/, 10000);
  if (!hello) throw new Error(`the Node echo/sink peers did not start; log ${log}:\n${tail(log)}`);
  Object.assign(ports, JSON.parse(hello));
  const peers = {
    child: peersChild,
    send: (cmd) => peersChild.stdin.write(`${cmd}\n`),
    wait: (re, ms) => lines.wait(re, ms),
  };

  if (have.has('redis-server')) {
    await retry('redis-server', log, async () => {
      const p = await freeTcpPort();
      const c = start('redis-server', 'redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxclients', '20000'], { log, nofile: true });
      if (await waitTcpPort(p, { child: c })) return (ports.redis = p);
      await stop(c);
      return null;
    });
  }
  if (have.has('iperf3')) {
    await retry('iperf3 -s', log, async () => {
      const p = await freeTcpPort();
      // --rcv-timeout: a test whose client died frees the server after 10 s instead of 120 s.
      const c = start('iperf3', 'iperf3', ['-s', '-B', '127.0.0.1', '-p', String(p), '--rcv-timeout', '10000'], { log });
      if (await waitTcpPort(p, { child: c })) return (ports.iperf = p);
      await stop(c);
      return null;
    });
  }
  if (have.has('sockperf')) {
    await retry('sockperf server', log, async () => {
      const p = await freeUdpPort();
      const c = start('sockperf', 'sockperf', ['server', '-i', '127.0.0.1', '-p', String(p)], { log });
      if (await waitUdpBound(p, { child: c })) return (ports.udp = p);
      await stop(c);
      return null;
    });
  }
  return { ports, peers };
}

// ---------------------------------------------------------------------------------------------
// Proxy configs. `listen` and `backend` map a service name to a port; only services present
// in `backend` get a listener.

function lbConfig(listen, backend, algorithm, cores, datapath) {
  const out = ['# written by scripts/bench.mjs', '[global]', 'log_level = "warn"', 'max_connections = 100000', `workers = ${cores}`, `datapath = "${datapath}"`, ''];
  for (const s of Object.keys(backend)) {
    out.push(`[listeners.${s}]`);
    if (s === UDP_SERVICE) out.push('protocol = "udp"', 'session_timeout = "30s"');
    out.push(`bind = "127.0.0.1:${listen[s]}"`, `pool = "${s}"`, `max_connections = ${PROXY_MAX_CONNECTIONS}`, '');
    out.push(`[pools.${s}]`, `algorithm = "${algorithm}"`, `backends = [{ address = "127.0.0.1:${backend[s]}" }]`, '');
  }
  return out.join('\n');
}

/**
 * HAProxy asks for ~2 fds per maxconn and refuses to start when it cannot raise its limit
 * that far ("Cannot raise FD limit"), so maxconn is capped by the hard nofile limit.
 */
export function haproxyMaxconn() {
  return Math.min(PROXY_MAX_CONNECTIONS, Math.floor((hardNofile() - 30) / 2));
}

function haproxyConfig(listen, backend, cores) {
  const maxconn = haproxyMaxconn();
  const out = [
    '# written by scripts/bench.mjs',
    'global',
    `  nbthread ${cores}`,
    `  maxconn ${maxconn}`,
    'defaults',
    '  mode tcp',
    `  maxconn ${maxconn}`,
    '  timeout connect 3s',
    '  timeout client 1h',
    '  timeout server 1h',
  ];
  for (const s of Object.keys(backend)) {
    if (s === UDP_SERVICE) continue; // HAProxy has no UDP proxying
    out.push(`frontend f_${s}`, `  bind 127.0.0.1:${listen[s]}`, `  default_backend b_${s}`);
    out.push(`backend b_${s}`, `  server s1 127.0.0.1:${backend[s]}`);
  }
  return `${out.join('\n')}\n`;
}

function nginxConfig(dir, listen, backend, streamLoad, cores, tag) {
  const out = ['# written by scripts/bench.mjs'];
  if (streamLoad) out.push(`load_module ${streamLoad};`);
  out.push(
    `worker_processes ${cores};`,
    // NGINX cannot raise its hard limit; it warns when worker_connections exceeds it.
    `worker_rlimit_nofile ${hardNofile()};`,
    'daemon off;',
    `pid ${join(dir, `${tag}.pid`)};`,
    `error_log ${join(dir, `${tag}.err.log`)} warn;`,
    `events { worker_connections ${PROXY_MAX_CONNECTIONS}; }`,
    'stream {',
  );
  for (const s of Object.keys(backend)) {
    const udp = s === UDP_SERVICE;
    out.push(`  server { listen 127.0.0.1:${listen[s]}${udp ? ' udp' : ''}; proxy_pass 127.0.0.1:${backend[s]}; proxy_timeout ${udp ? '30s' : '1h'}; }`);
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}

/**
 * `lb`, `lb-portable` (lb with datapath = "portable"), `lb-w2` (lb with workers = 2),
 * `haproxy-t2` (nbthread 2), `nginx-w2`: proxy, cores and lb's data path.
 */
export function parseTargetName(name) {
  if (name === 'lb-portable') return { proxy: 'lb', cores: 1, datapath: 'portable' };
  const m = /^(lb|haproxy|nginx)(?:-[wt](\d+))?$/.exec(name);
  return m ? { proxy: m[1], cores: m[2] ? Number(m[2]) : 1, datapath: 'auto' } : null;
}

/**
 * Start one proxy target (`lb`, `haproxy` or `nginx`, optionally with a core count as in
 * parseTargetName) in front of `backend` ports.
 * Returns { name, pid, child, ports, config } or null if it would not come up.
 */
export async function startProxy(target, dir, backend, { algorithm = 'round-robin', nginxStreamLoad } = {}) {
  const parsed = parseTargetName(target);
  if (!parsed) throw new Error(`unknown target ${target}`);
  const { proxy: name, cores, datapath } = parsed;
  const services = { ...backend };
  if (name === 'haproxy') delete services[UDP_SERVICE];
  const log = join(dir, `${target}.log`);
  return retry(target, log, async () => {
    const listen = {};
    for (const s of Object.keys(services)) listen[s] = s === UDP_SERVICE ? await freeUdpPort() : await freeTcpPort();
    let child;
    let config;
    if (name === 'lb') {
      if (!existsSync(join(ROOT, 'dist', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
      config = join(dir, `${target}.toml`);
      writeFileSync(config, lbConfig(listen, services, algorithm, cores, datapath));
      child = start(target, process.execPath, [LB_BIN, 'run', '-c', config], { log });
    } else if (name === 'haproxy') {
      config = join(dir, `${target}.cfg`);
      writeFileSync(config, haproxyConfig(listen, services, cores));
      child = start(target, 'haproxy', ['-db', '-f', config], { log, nofile: true });
    } else if (name === 'nginx') {
      config = join(dir, `${target}.conf`);
      writeFileSync(config, nginxConfig(dir, listen, services, nginxStreamLoad, cores, target));
      child = start(target, 'nginx', ['-e', join(dir, `${target}.err.log`), '-p', dir, '-c', config], { log, nofile: true });
    } else {
      throw new Error(`unknown target ${name}`);
    }
    for (const s of Object.keys(services)) {
      const ok = s === UDP_SERVICE ? await waitUdpBound(listen[s], { child }) : await waitTcpPort(listen[s], { child });
      if (!ok) {
        await stop(child);
        return null;
      }
    }
    return { name: target, pid: child.pid, child, ports: listen, config };
  });
}

/** The `direct` target: clients go straight to the backends. */
export function directTarget(backend) {
  return { name: 'direct', pid: null, child: null, ports: { ...backend }, config: null };
}
