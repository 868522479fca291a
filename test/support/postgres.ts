// Real PostgreSQL servers for integration tests (Debian's postgresql), each in its own temp
// data directory on a loopback port, stopped by PID. PostgreSQL refuses to run as root, so
// as root the server and its tools run as the `postgres` user the package creates (spawn's
// uid/gid, so the PID is the server's own). Tests
// skip with a message when no PostgreSQL is installed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.js';

/** The directory holding initdb and postgres, or null. */
function binDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a));
  return versions.length === 0 ? null : join(root, versions[0]!, 'bin');
}

const BIN = binDir();
const asRoot = process.getuid?.() === 0;
/** As root: the uid and gid of the `postgres` user (spawned processes run as it). */
const ids = ((): { uid: number; gid: number } | null => {
  if (!asRoot) return null;
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  return uid.status === 0 && gid.status === 0 ? { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) } : null;
})();

export function havePostgres(): boolean {
  return BIN !== null && (!asRoot || ids !== null);
}

const tool = (name: string): string => join(BIN!, name);

function run(name: string, args: readonly string[]): string {
  const r = spawnSync(tool(name), args, { encoding: 'utf8', ...ids });
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
  return r.stdout;
}

export interface PostgresServer {
  readonly port: number;
  readonly dir: string;
  /** Run SQL as the superuser; returns psql's unaligned output. */
  sql(text: string): string;
  /** The server's log so far. */
  log(): string;
  close(): Promise<void>;
}

export interface PostgresOptions {
  /** Start as a streaming replica of this server (pg_basebackup -R). */
  readonly replicaOf?: PostgresServer;
  /** Lines appended to pg_hba.conf before the defaults (first match wins). */
  readonly hba?: readonly string[];
}

export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  const dir = mkdtempSync(join(tmpdir(), 'lb-pg-'));
  if (ids !== null) chownSync(dir, ids.uid, ids.gid);
  const data = join(dir, 'data');
  const port = await freePort();
  if (options.replicaOf === undefined) {
    run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
    const hba = [...(options.hba ?? []), 'local all all trust', 'host all all 127.0.0.1/32 trust', 'host replication all 127.0.0.1/32 trust'];
    writeFileSync(join(data, 'pg_hba.conf'), `${hba.join('\n')}\n`);
  } else {
    run('pg_basebackup', ['-D', data, '-h', '127.0.0.1', '-p', String(options.replicaOf.port), '-U', 'postgres', '-R', '-X', 'stream']);
  }
  const logFile = join(dir, 'server.log');
  const log = openSync(logFile, 'a');
  const child: ChildProcess = spawn(tool('postgres'), [
    '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1',
    '-c', 'log_connections=on', '-c', 'log_disconnections=on', '-c', 'fsync=off', '-c', 'max_connections=50',
    '-c', 'logging_collector=off', '-c', 'log_destination=stderr',
  ], { stdio: ['ignore', 'ignore', log], ...ids });
  closeSync(log);
  const server: PostgresServer = {
    port,
    dir,
    sql: (text) => run('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', text]).trim(),
    log: () => readFileSync(logFile, 'utf8'),
    close: async () => {
      if (child.exitCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGINT'); // fast shutdown of this server (its own PID)
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  // Ready for queries (a replica also needs its startup to reach a consistent state).
  for (let i = 0; ; i++) {
    const r = spawnSync(tool('psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-X', '-A', '-t', '-c', 'SELECT 1'], { encoding: 'utf8', ...ids });
    if (r.status === 0) break;
    if (i > 400 || child.exitCode !== null) throw new Error(`postgres on ${port} did not start: ${r.stderr} ${readFileSync(logFile, 'utf8').slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return server;
}

/** Debian's psql of the same server version (for clients that connect through lb). */
export function psqlPath(): string {
  return tool('psql');
}
