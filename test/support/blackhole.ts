// A listener whose connects hang: a python3 socket that listen(0)s and never accept()s, with
// its one-slot accept queue filled by us, so the kernel drops further SYNs and a connect to
// it stays in SYN_SENT until the caller's timeout. (Node's net.Server always accepts, so it
// cannot play this peer.) Loopback only.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';

const SCRIPT = [
  'import socket, signal',
  's = socket.socket()',
  "s.bind(('127.0.0.1', 0))",
  's.listen(0)',
  'print(s.getsockname()[1], flush=True)',
  'signal.pause()',
].join('\n');

export interface Blackhole {
  readonly port: number;
  close(): Promise<void>;
}

export async function startBlackhole(): Promise<Blackhole> {
  const child: ChildProcess = spawn('python3', ['-c', SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [first] = (await once(child.stdout!, 'data')) as [Buffer];
  const port = Number(first.toString().trim());
  // Fill the accept queue (backlog 0 holds one connection).
  const filler = net.connect({ port, host: '127.0.0.1' });
  filler.on('error', () => {});
  await once(filler, 'connect');
  return {
    port,
    close: async () => {
      filler.destroy();
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** True when python3 can be started (the helper needs it). */
export async function havePython(): Promise<boolean> {
  const child = spawn('python3', ['-c', 'pass'], { stdio: 'ignore' });
  try {
    const [code] = (await once(child, 'exit')) as [number];
    return code === 0;
  } catch {
    return false;
  }
}
