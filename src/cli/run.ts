// `lb run -c FILE`: load, validate, bind, serve until a stop signal.
import { loadConfigFile } from '../config/load.js';
import { formatProblem } from '../config/validate.js';
import { createLogger, flushLogs } from '../log/logger.js';
import { Runtime } from '../runtime/runtime.js';
import { installSignals, exit } from '../runtime/signals.js';
import { BindError } from '../errors.js';
import { VERSION } from '../version.js';

export async function runCommand(opts: { config: string; pretty: boolean }): Promise<number> {
  const loaded = loadConfigFile(opts.config);
  if (!loaded.ok) {
    for (const p of loaded.problems) process.stderr.write(formatProblem(p) + '\n');
    return 2;
  }
  const config = loaded.config;
  const log = createLogger(config.global.logLevel, { pretty: opts.pretty });
  for (const w of loaded.warnings) log.warn({ problem: formatProblem(w) }, 'config warning');

  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception: this is a bug');
    void exit(log, 1);
  });
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, 'unhandled rejection: this is a bug');
    void exit(log, 1);
  });

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
