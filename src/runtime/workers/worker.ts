// A worker process (`workers` > 1): the data path only. It runs the listeners and sessions
// of its share of the config (workerConfig) and keeps follower pools whose backends' health,
// drains and config come from the supervisor over the IPC channel; it reports connect
// failures and, when asked, its counters. Messages are handled one at a time, in order, so a
// health flip sent after a reload is applied after it.
import type { Logger } from '../../log/logger.js';
import { parseConfigText } from '../../config/load.js';
import { formatProblem } from '../../config/validate.js';
import { BindError } from '../../errors.js';
import { Runtime } from '../runtime.js';
import { exit } from '../signals.js';
import { localErrors } from '../../local-errors.js';
import {
  readListenerCounters, workerConfig,
  type Counters, type FromWorker, type ToWorker, type WorkerError,
} from './messages.js';

export async function runWorker(baseLog: Logger, version: string): Promise<void> {
  let runtime: Runtime | null = null;
  let log = baseLog;
  let index = 0;
  let count = 1;
  let stopping: Promise<void> | null = null;
  const send = (m: FromWorker): void => {
    if (process.connected) process.send!(m);
  };

  const stop = (drainMs: number | undefined): void => {
    const r = runtime;
    const done = r === null ? Promise.resolve() : r.stop(drainMs);
    stopping ??= done.then(() => exit(log, 0));
  };
  // A signal to the whole process group (systemd's stop, Ctrl-C) reaches workers too: the
  // same graceful stop the supervisor would ask for. SIGHUP is the supervisor's alone.
  process.on('SIGTERM', () => stop(stopping === null ? undefined : 0));
  process.on('SIGINT', () => stop(stopping === null ? undefined : 0));
  process.on('SIGHUP', () => undefined);
  // The supervisor gone (killed): nobody owns health or config any more; stop serving.
  process.on('disconnect', () => {
    log.error({}, 'supervisor gone: stopping');
    stop(0);
  });

  const handle = async (m: ToWorker): Promise<void> => {
    switch (m.t) {
      case 'start': {
        index = m.index;
        count = m.count;
        log = baseLog.child({ worker: index + 1 });
        const parsed = parseConfigText(m.text, m.file);
        if (!parsed.ok) {
          send({ t: 'failed', error: { message: parsed.problems.map(formatProblem).join('; ') } });
          return;
        }
        const r = new Runtime(workerConfig(parsed.config, index, count), log, {
          configFile: m.file,
          version,
          poolLink: {
            follower: true,
            connectFailed: (pool, key, detail) => send({ t: 'connect_failure', pool, key, detail }),
          },
        });
        try {
          await r.start();
        } catch (err) {
          send({ t: 'failed', error: describe(err) });
          return;
        }
        runtime = r;
        send({ t: 'started', binds: binds(r) });
        return;
      }
      case 'apply': {
        const parsed = parseConfigText(m.text, m.file);
        if (runtime === null || !parsed.ok) {
          send({ t: 'applied', id: m.id, ok: false, error: { message: parsed.ok ? 'worker not started' : 'invalid config' } });
          return;
        }
        try {
          await runtime.apply(workerConfig(parsed.config, index, count));
          send({ t: 'applied', id: m.id, ok: true, binds: binds(runtime) });
        } catch (err) {
          send({ t: 'applied', id: m.id, ok: false, error: describe(err) });
        }
        return;
      }
      case 'health': {
        const pool = runtime?.pools.get(m.pool);
        const b = pool?.get(m.key);
        if (b !== undefined && b.healthy !== m.healthy) pool!.healthChanged(b, m.healthy, m.why);
        return;
      }
      case 'load': {
        const pool = runtime?.pools.get(m.pool);
        const b = pool?.get(m.key);
        if (b !== undefined) pool!.loadReported(b, m.report);
        return;
      }
      case 'backend': {
        const pool = runtime?.pools.get(m.pool);
        if (m.action === 'drain') pool?.drainBackend(m.key);
        else pool?.enableBackend(m.key);
        return;
      }
      case 'states': {
        for (const s of m.backends) {
          const pool = runtime?.pools.get(s.pool);
          const b = pool?.get(s.key);
          if (pool === undefined || b === undefined) continue;
          if (b.healthy !== s.healthy) pool.healthChanged(b, s.healthy, 'supervisor');
          if (s.drained && !b.draining) pool.drainBackend(s.key);
        }
        return;
      }
      case 'counters':
        send({ t: 'counters', id: m.id, counters: counters(runtime) });
        return;
      case 'stop':
        stop(m.drainMs);
        return;
    }
  };

  let chain: Promise<void> = Promise.resolve();
  process.on('message', (m: ToWorker) => {
    chain = chain.then(() => handle(m)).catch((err: Error) => log.error({ err: { message: err.message } }, 'worker message failed'));
  });
  send({ t: 'ready' });
}

function binds(r: Runtime): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, l] of r.listeners) out[name] = l.boundAddress();
  return out;
}

function counters(r: Runtime | null): Counters {
  const out: Counters = { listeners: {}, backends: {}, localErrors: Object.fromEntries(localErrors) };
  if (r === null) return out;
  r.syncCounters();
  for (const [name, l] of r.listeners) out.listeners[name] = readListenerCounters(l);
  for (const [name, p] of r.pools) {
    const bs: Counters['backends'][string] = {};
    for (const b of p.backends) bs[b.key] = { active: b.active, total: b.total, bytesIn: b.bytesIn, bytesOut: b.bytesOut, connectFailures: b.connectFailures };
    out.backends[name] = bs;
  }
  return out;
}

function describe(err: unknown): WorkerError {
  if (err instanceof BindError) return { message: err.message, code: err.code, listener: err.listener, bind: err.bind, errno: err.errno };
  return { message: err instanceof Error ? err.message : String(err) };
}
