// The external programs the full benchmark drives, how to tell they are present, and the
// Debian packages that provide them. Missing ones are installed with apt-get (after
// `apt-get update`) unless env CI is set or --no-install is given; what is still missing is
// skipped with a printed note, never a failure.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** name → the command to probe, its version flag, and the package that provides it. */
export const TOOLS = {
  iperf3: { cmd: 'iperf3', version: ['--version'], pkg: 'iperf3' },
  'redis-server': { cmd: 'redis-server', version: ['--version'], pkg: 'redis-server' },
  'redis-benchmark': { cmd: 'redis-benchmark', version: ['--version'], pkg: 'redis-tools' },
  sockperf: { cmd: 'sockperf', version: ['--version'], pkg: 'sockperf' },
  haproxy: { cmd: 'haproxy', version: ['-v'], pkg: 'haproxy' },
  nginx: { cmd: 'nginx', version: ['-v'], pkg: 'nginx' },
  'nginx-stream': { pkg: 'libnginx-mod-stream' }, // the stream module, dynamic on Debian
};

const STREAM_MODULES = [
  '/usr/lib/nginx/modules/ngx_stream_module.so',
  '/usr/lib64/nginx/modules/ngx_stream_module.so',
  '/usr/share/nginx/modules/ngx_stream_module.so',
];

/**
 * How NGINX gets its stream module: { load: path } for a dynamic module, { load: null } when it
 * is compiled in, or null when it has none.
 */
export function nginxStream() {
  const path = STREAM_MODULES.find((p) => existsSync(p));
  if (path) return { load: path };
  const v = spawnSync('nginx', ['-V'], { encoding: 'utf8' });
  const text = `${v.stdout ?? ''}${v.stderr ?? ''}`;
  return / --with-stream(\s|$)/.test(text) ? { load: null } : null;
}

function present(name) {
  if (name === 'nginx-stream') return present('nginx') && nginxStream() !== null;
  const t = TOOLS[name];
  return spawnSync(t.cmd, t.version, { stdio: 'ignore' }).status === 0;
}

/** First line of a tool's version output, for the results' machine description. */
export function versionOf(name) {
  const t = TOOLS[name];
  if (!t?.cmd) return null;
  const r = spawnSync(t.cmd, t.version, { encoding: 'utf8' });
  if (r.status !== 0) return null;
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0];
}

function apt(args, log) {
  const asRoot = process.getuid?.() === 0;
  const canSudo = !asRoot && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  if (!asRoot && !canSudo) {
    log('bench: not root and no password-less sudo: cannot run apt-get');
    return false;
  }
  const [cmd, a] = asRoot ? ['apt-get', args] : ['sudo', ['-n', 'apt-get', ...args]];
  log(`bench: ${asRoot ? '' : 'sudo '}apt-get ${args.join(' ')}`);
  const r = spawnSync(cmd, a, {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: 600_000,
  });
  return r.status === 0;
}

/**
 * Make sure `names` are present. Returns the set of those available afterwards.
 * Installs with apt-get when allowed (never when env CI is set).
 */
export function ensureTools(names, { install = true, log = (s) => process.stderr.write(`${s}\n`) } = {}) {
  const missing = names.filter((n) => !present(n));
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((n) => TOOLS[n].pkg))];
    if (process.env.CI) {
      log(`bench: missing ${missing.join(', ')}; env CI is set, so nothing is installed (apt-get install ${pkgs.join(' ')})`);
    } else if (!install) {
      log(`bench: missing ${missing.join(', ')}; --no-install given (apt-get install ${pkgs.join(' ')})`);
    } else if (spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status !== 0) {
      log(`bench: missing ${missing.join(', ')} and no apt-get here; install ${pkgs.join(' ')} by hand`);
    } else if (apt(['update'], log)) {
      // Installing nginx, haproxy or redis-server on Debian also starts their system services;
      // the harness never uses those, it starts its own instances on free loopback ports.
      apt(['install', '-y', '--no-install-recommends', ...pkgs], log);
    }
  }
  const have = new Set(names.filter((n) => present(n)));
  for (const n of names) if (!have.has(n)) log(`bench: ${n} unavailable: the measurements that need it are skipped`);
  return have;
}
