// `lb run -c FILE`: load, validate, bind, serve until a stop signal.
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { readConfigFile, parseConfigText } from '../config/load.js';
import type { LogLevel } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { formatProblem } from '../config/validate.js';
import { createLogger, flushLogs } from '../log/logger.js';
import { Runtime } from '../runtime/runtime.js';
import { installSignals, exit } from '../runtime/signals.js';
import { BindError } from '../errors.js';
import { VERSION } from '../version.js';
import { Supervisor, resolveWorkers } from '../runtime/workers/supervisor.js';
import { runWorker } from '../runtime/workers/worker.js';

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
  if (workers > 1) return supervise(new Supervisor({ config, text: read.text, file: opts.config, count: workers, version: VERSION, log }), log, opts.config);

  const runtime = new Runtime(config, log, { configFile: opts.config, version: VERSION });
  installSignals(runtime, log, {
    reload: async () => {
      log.info({ file: opts.config }, 'reload requested');
      await runtime.reload();
    },
  });
  try {
    await runtime.start();
  } catch (err) {
    if (err instanceof BindError) log.fatal({ code: err.code, bind: err.bind, errno: err.errno }, err.message);
    else log.fatal({ err }, 'cannot start');
    await flushLogs();
    return 1;
  }
  log.info({ file: opts.config, listeners: config.listeners.length, pools: config.pools.length }, 'started');
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

/** `workers` > 1: the supervisor forks the workers and owns health, admin and signals. */
async function supervise(sup: Supervisor, log: Logger, file: string): Promise<number> {
  installSignals(sup, log, {
    reload: async () => {
      log.info({ file }, 'reload requested');
      await sup.runtime.reload();
    },
  });
  try {
    await sup.start();
  } catch (err) {
    if (err instanceof BindError) log.fatal({ code: err.code, bind: err.bind, errno: err.errno }, err.message);
    else log.fatal({ err }, 'cannot start');
    await flushLogs();
    return 1;
  }
  const c = sup.runtime.config;
  log.info({ file, listeners: c.listeners.length, pools: c.pools.length, workers: sup.runtime.workers }, 'started');
  return await new Promise<number>(() => {});
}
