// Real Redis servers for integration tests (Debian's redis-server), on loopback ports picked
// by the OS. Tests that use them skip with a message when redis-server is not installed.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { once } from 'node:events';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.js';

const execFileP = promisify(execFile);

export function haveRedis(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0
    && spawnSync('redis-benchmark', ['--version'], { stdio: 'ignore' }).status === 0;
}

export { freePort };

export interface RedisServer {
  readonly port: number;
  close(): Promise<void>;
}

/** A redis-server on a free loopback port; `args` are more command-line options (e.g. --requirepass). */
export async function startRedis(args: readonly string[] = []): Promise<RedisServer> {
  const port = await freePort();
  // Its own working directory: a replica's full sync writes dump.rdb there.
  const dir = mkdtempSync(join(tmpdir(), 'lb-redis-'));
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--dir', dir, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning', ...args],
    { stdio: 'ignore' },
  );
  // Ready when it accepts a PING.
  for (let i = 0; ; i++) {
    if (await ping(port)) break; // NOAUTH counts: the server is up
    if (i > 200 || child.exitCode !== null) throw new Error(`redis-server on ${port} did not start`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    port,
    close: async () => {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.on('error', () => resolve(false));
    s.on('data', (d: Buffer) => {
      resolve(d.toString().startsWith('+PONG') || d.toString().startsWith('-NOAUTH'));
      s.destroy();
    });
    s.write('PING\r\n');
  });
}

/** Run redis-benchmark against 127.0.0.1:port; returns exit code and output. */
export async function redisBenchmark(port: number, args: string[]): Promise<{ code: number; out: string }> {
  const child = spawn('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const [code] = (await once(child, 'exit')) as [number];
  return { code, out };
}

/**
 * One command through redis-cli (Debian's redis-tools); resolves with its output, trimmed.
 * Asynchronous: an in-process lb between the client and the server must go on running.
 */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await execFileP('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 10_000 });
  return stdout.trim();
}
