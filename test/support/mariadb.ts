// Real MariaDB servers for integration tests (Debian's mariadb-server), each in its own temp
// data directory on a loopback port, stopped by PID. As root the server runs as the `mysql`
// user (spawn's uid/gid). Tests skip with a message when MariaDB is not installed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.js';

const asRoot = process.getuid?.() === 0;
const ids = ((): { uid: number; gid: number } | null => {
  if (!asRoot) return null;
  const uid = spawnSync('id', ['-u', 'mysql'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'mysql'], { encoding: 'utf8' });
  return uid.status === 0 && gid.status === 0 ? { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) } : null;
})();

const SERVER = ['/usr/sbin/mariadbd', '/usr/sbin/mysqld'].find((p) => existsSync(p));

export function haveMariadb(): boolean {
  return SERVER !== undefined && spawnSync('mariadb-install-db', ['--version'], { stdio: 'ignore' }).status === 0 && (!asRoot || ids !== null);
}

export interface MariadbServer {
  readonly port: number;
  /** Run SQL as root (unix socket); returns the tab-separated output. */
  sql(text: string): string;
  /** The server's error log so far. */
  log(): string;
  close(): Promise<void>;
}

export async function startMariadb(extra: readonly string[] = []): Promise<MariadbServer> {
  const dir = mkdtempSync(join(tmpdir(), 'lb-mariadb-'));
  if (ids !== null) chownSync(dir, ids.uid, ids.gid);
  const data = join(dir, 'data');
  const sock = join(dir, 'mysqld.sock');
  const logFile = join(dir, 'error.log');
  const init = spawnSync('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=socket', '--skip-test-db', ...(ids !== null ? ['--user=mysql'] : [])], {
    encoding: 'utf8',
  });
  if (init.status !== 0) throw new Error(`mariadb-install-db failed: ${init.stderr || init.stdout}`);
  const port = await freePort();
  const child: ChildProcess = spawn(
    SERVER!,
    ['--no-defaults', `--datadir=${data}`, `--socket=${sock}`, `--port=${port}`, '--bind-address=127.0.0.1', `--log-error=${logFile}`, `--pid-file=${join(dir, 'pid')}`, '--skip-name-resolve', '--innodb-buffer-pool-size=16M', '--log-warnings=4', ...extra],
    { stdio: 'ignore', ...ids },
  );
  // The client runs as this process's own OS user: install-db gives root, and the user that ran
  // it, unix_socket logins.
  const osUser = asRoot ? 'root' : (process.env.USER ?? spawnSync('id', ['-un'], { encoding: 'utf8' }).stdout.trim());
  const client = (text: string) => spawnSync('mariadb', ['--no-defaults', `--socket=${sock}`, '-u', osUser, '-N', '-B', '-e', text], { encoding: 'utf8' });
  const sql = (text: string): string => {
    const r = client(text);
    if (r.status !== 0) throw new Error(`mariadb -e ${JSON.stringify(text)} failed: ${r.stderr}`);
    return r.stdout.trim();
  };
  for (let i = 0; ; i++) {
    const r = client('SELECT 1');
    if (r.status === 0) break;
    if (i > 600 || child.exitCode !== null) throw new Error(`mariadbd on ${port} did not start: ${existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : r.stderr}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    port,
    sql,
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    close: async () => {
      if (child.exitCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
