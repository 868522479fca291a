// The built program as a child process: spawn `bin/lb`, collect its JSON log lines, await
// one that matches, send signals, await the exit code. Used by the e2e tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { LogCapture } from './log-capture.js';

export const LB_BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'lb');

export interface LbProcess {
  readonly child: ChildProcess;
  readonly logs: LogCapture;
  stderr: string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** The OS-chosen port of listener `name`, from its 'listening' log line. */
  port(name: string): Promise<number>;
}

/** Write `text` to a fresh temp dir as lb.toml and return its path. */
export function writeConfig(text: string, name = 'lb.toml'): string {
  const dir = mkdtempSync(join(tmpdir(), 'lb-test-'));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** `nofile`: run lb under that descriptor limit (soft and hard, so Node cannot raise it). */
/** `bin`: another copy of bin/lb (default: this checkout's). */
export function spawnLb(t: Test, args: string[], env: Record<string, string> = {}, opts: { nofile?: number; bin?: string } = {}): LbProcess {
  const bin = opts.bin ?? LB_BIN;
  const options = { stdio: ['ignore', 'pipe', 'pipe'] as ('ignore' | 'pipe')[], env: { ...process.env, ...env } };
  const child = opts.nofile === undefined
    ? spawn(process.execPath, [bin, ...args], options)
    : spawn('/bin/sh', ['-c', `ulimit -n ${opts.nofile} && exec "$0" "$@"`, process.execPath, bin, ...args], options);
  const logs = new LogCapture();
  let buf = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.startsWith('{')) logs.write(line);
    }
  });
  const p: LbProcess = {
    child,
    logs,
    stderr: '',
    exited: once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string),
    async port(name: string): Promise<number> {
      const line = await logs.waitFor({ msg: 'listening', listener: name });
      const bind = String(line.bind);
      return Number(bind.slice(bind.lastIndexOf(':') + 1));
    },
  };
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (p.stderr += d));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await p.exited;
    }
  });
  return p;
}

/** Run `bin/lb args` to completion: exit code, stdout, stderr. */
export async function runLb(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [LB_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [code] = (await once(child, 'exit')) as [number];
  return { code, stdout, stderr };
}
