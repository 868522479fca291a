// Process signals → runtime calls. Nothing else in lb touches process signals.
// SIGTERM/SIGINT: graceful stop (drain up to drain_timeout), exit 0; a second one stops at once.
// SIGHUP: reload from the same file.
/** What a stop signal stops: a Runtime, or the supervisor of several. */
export interface Stoppable {
  stop(drainTimeoutMs?: number): Promise<void>;
}
import type { Logger } from '../log/logger.js';
import { flushLogs } from '../log/logger.js';

export interface SignalHooks {
  /** Re-read the config file and apply it; never throws. */
  reload(): Promise<void>;
}

export function installSignals(runtime: Stoppable, log: Logger, hooks: SignalHooks): void {
  let stopSignals = 0;
  const onStop = (signal: NodeJS.Signals): void => {
    stopSignals++;
    if (stopSignals === 1) {
      log.info({ signal }, 'graceful stop requested');
      void runtime.stop().then(() => exit(log, 0));
    } else {
      log.warn({ signal }, 'second stop signal: closing every session now');
      void runtime.stop(0).then(() => exit(log, 0));
    }
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  let reloading: Promise<void> = Promise.resolve();
  process.on('SIGHUP', () => {
    // Reloads are serialised: a SIGHUP during a reload runs after it.
    reloading = reloading.then(() => hooks.reload());
  });
}

export async function exit(log: Logger, code: number): Promise<never> {
  log.info({ code }, 'exit');
  await flushLogs();
  process.exit(code);
}
