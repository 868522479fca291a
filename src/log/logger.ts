// The process logger: pino JSON lines on stdout through an asynchronous destination, so that
// a burst of access lines never blocks the event loop. `flushLogs()` must run before exit
// (an unflushed async destination loses buffered lines on SIGTERM: see shared/NODE20.md).
import pino, { type Logger, type DestinationStream } from 'pino';
import type { LogLevel } from '../config/types.js';

export type { Logger };

let destination: ReturnType<typeof pino.destination> | null = null;
let ready: Promise<void> = Promise.resolve();

/** One write(2) of at most PIPE_BUF bytes is atomic on a pipe: lines of several processes never mix. */
const PIPE_BUF = 4096;

/**
 * The stdout logger used by `lb run`. `pretty` switches to a human-readable single line.
 * `shared`: other processes write to the same stdout (workers), so every write is whole
 * lines of at most PIPE_BUF bytes.
 */
export function createLogger(level: LogLevel, options: { pretty?: boolean; shared?: boolean } = {}): Logger {
  if (options.pretty) return pino({ level, base: { pid: process.pid } }, prettyStream());
  destination = pino.destination({ dest: 1, sync: false, minLength: 0, ...(options.shared ? { maxWrite: PIPE_BUF } : {}) });
  ready = new Promise((resolve) => {
    const d = destination!;
    // sonic-boom emits 'ready' once the fd is usable; flushSync() before that throws.
    if ((d as unknown as { fd: number }).fd >= 0) resolve();
    else d.once('ready', () => resolve());
  });
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

/** Write out every buffered line. Safe to call more than once and without a destination. */
export async function flushLogs(): Promise<void> {
  if (!destination) return;
  await ready;
  try {
    destination.flushSync();
  } catch {
    // EAGAIN on a full pipe: fall back to an async flush and wait for it.
    await new Promise<void>((resolve) => destination!.flush(() => resolve()));
  }
}

/** A minimal line formatter for `--pretty`: `HH:MM:SS LEVEL msg key=value ...`. */
function prettyStream(): DestinationStream {
  const names: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
  return {
    write(line: string): void {
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        const { level, time, msg, pid: _pid, hostname: _h, ...rest } = o;
        const ts = new Date(typeof time === 'number' ? time : Date.now()).toISOString().slice(11, 23);
        const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
        process.stdout.write(`${ts} ${(names[level as number] ?? String(level)).padEnd(5)} ${String(msg ?? '')} ${fields}\n`);
      } catch {
        process.stdout.write(line);
      }
    },
  };
}
