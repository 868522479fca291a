// `lb run -c FILE`: load, validate, bind, serve until a stop signal. This is where lb is put
// together: the runtime (or the supervisor's), with the admin API attached beside it.
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { readConfigFile, parseConfigText } from '../config/load.js';
import type { LogLevel } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { formatProblem } from '../config/validate.js';
import { createLogger, flushLogs } from '../log/logger.js';
import { Runtime } from '../runtime/runtime.js';
import { installSignals, exit, type Stoppable } from '../runtime/signals.js';
import { BindError } from '../errors.js';
import { VERSION } from '../version.js';
import { Supervisor, resolveWorkers } from '../runtime/workers/supervisor.js';
import { runWorker } from '../runtime/workers/worker.js';
import { AdminService } from '../admin/admin-service.js';

export async function runCommand(opts: { config: string; pretty: boolean }): Promise<number> {
  if (cluster.isWorker) {
    // A worker of a supervisor (`workers` > 1): the config arrives over the IPC channel.
    const log = createLogger((process.env['LB_LOG_LEVEL'] ?? 'info') as LogLevel, { pretty: opts.pretty, shared: true });
    exitOnBug(log);
    await runWorker(log, VERSION);
    return await new Promise<number>(() => {});
  }
  const read = readConfigFile(opts.config);
  const loaded = read.ok ? parseConfigText(read.text, opts.config) : read;
  if (!read.ok || !loaded.ok) {
    for (const p of loaded.ok ? [] : loaded.problems) process.stderr.write(formatProblem(p) + '\n');
    return 2;
  }
  const config = loaded.config;
  const workers = resolveWorkers(config.global.workers, availableParallelism());
  const log = createLogger(config.global.logLevel, { pretty: opts.pretty, shared: workers > 1 });
  for (const w of loaded.warnings) log.warn({ problem: formatProblem(w) }, 'config warning');
  exitOnBug(log);
  // One process, or a supervisor that forks the workers and owns health, admin and signals.
  // The admin API runs beside the runtime that owns the config: the supervisor's when there
  // are workers (their configs have no [admin]).
  if (workers > 1) {
    const sup = new Supervisor({ config, text: read.text, file: opts.config, count: workers, version: VERSION, log });
    sup.runtime.attach(new AdminService(sup.runtime, log));
    return serve(sup, sup.runtime, log, opts.config);
  }
  const runtime = new Runtime(config, log, { configFile: opts.config, version: VERSION });
  runtime.attach(new AdminService(runtime, log));
  return serve(runtime, runtime, log, opts.config);
}

/** Signals, start, the 'started' line; then run until a stop signal ends the process. */
async function serve(target: Stoppable & { start(): Promise<void> }, runtime: Runtime, log: Logger, file: string): Promise<number> {
  installSignals(target, log, {
    reload: async () => {
      log.info({ file }, 'reload requested');
      await runtime.reload();
    },
  });
  try {
    await target.start();
  } catch (err) {
    if (err instanceof BindError) log.fatal({ code: err.code, bind: err.bind, errno: err.errno }, err.message);
    else log.fatal({ err }, 'cannot start');
    await flushLogs();
    return 1;
  }
  const c = runtime.config;
  log.info({ file, listeners: c.listeners.length, pools: c.pools.length, ...(runtime.workers > 1 ? { workers: runtime.workers } : {}) }, 'started');
  // Keep running: the signal handlers end the process.
  return await new Promise<number>(() => {});
}

function exitOnBug(log: Logger): void {
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception: this is a bug');
    void exit(log, 1);
  });
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, 'unhandled rejection: this is a bug');
    void exit(log, 1);
  });
}
